using System.Net;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookEndpointGuardTests
{
    [Theory]
    [InlineData("8.8.8.8", IpAddressCategory.Public)]
    [InlineData("93.184.216.34", IpAddressCategory.Public)]
    [InlineData("172.32.0.1", IpAddressCategory.Public)]
    [InlineData("100.128.0.1", IpAddressCategory.Public)]
    [InlineData("10.0.0.1", IpAddressCategory.Private)]
    [InlineData("172.16.0.1", IpAddressCategory.Private)]
    [InlineData("172.31.255.255", IpAddressCategory.Private)]
    [InlineData("192.168.1.1", IpAddressCategory.Private)]
    [InlineData("100.64.0.1", IpAddressCategory.SharedAddressSpace)]
    [InlineData("127.0.0.1", IpAddressCategory.Loopback)]
    [InlineData("127.1.2.3", IpAddressCategory.Loopback)]
    [InlineData("169.254.169.254", IpAddressCategory.LinkLocal)]
    [InlineData("0.0.0.0", IpAddressCategory.Unspecified)]
    [InlineData("224.0.0.1", IpAddressCategory.Multicast)]
    [InlineData("255.255.255.255", IpAddressCategory.Broadcast)]
    [InlineData("240.0.0.1", IpAddressCategory.Reserved)]
    [InlineData("198.18.0.1", IpAddressCategory.Reserved)]
    [InlineData("192.0.0.8", IpAddressCategory.Reserved)]
    [InlineData("192.0.2.1", IpAddressCategory.Documentation)]
    [InlineData("203.0.113.7", IpAddressCategory.Documentation)]
    [InlineData("::1", IpAddressCategory.Loopback)]
    [InlineData("::", IpAddressCategory.Unspecified)]
    [InlineData("::ffff:10.0.0.1", IpAddressCategory.Private)]
    [InlineData("::ffff:169.254.169.254", IpAddressCategory.LinkLocal)]
    [InlineData("::ffff:127.0.0.1", IpAddressCategory.Loopback)]
    [InlineData("::ffff:8.8.8.8", IpAddressCategory.Public)]
    [InlineData("64:ff9b::a00:1", IpAddressCategory.Private)]
    [InlineData("2002:a00:1::1", IpAddressCategory.Private)]
    [InlineData("2002:808:808::1", IpAddressCategory.Public)]
    [InlineData("fd00::1", IpAddressCategory.UniqueLocal)]
    [InlineData("fc00::1", IpAddressCategory.UniqueLocal)]
    [InlineData("fe80::1", IpAddressCategory.LinkLocal)]
    [InlineData("fec0::1", IpAddressCategory.SiteLocal)]
    [InlineData("ff02::1", IpAddressCategory.Multicast)]
    [InlineData("2001:db8::1", IpAddressCategory.Documentation)]
    [InlineData("2001::1", IpAddressCategory.Reserved)]
    [InlineData("::a00:1", IpAddressCategory.Reserved)]
    [InlineData("100::1", IpAddressCategory.Reserved)]
    [InlineData("2606:4700:4700::1111", IpAddressCategory.Public)]
    [InlineData("2a00:1450:4001:81a::200e", IpAddressCategory.Public)]
    public void Addresses_are_classified(string address, IpAddressCategory expected)
    {
        Assert.Equal(expected, WebhookEndpointGuard.Classify(IPAddress.Parse(address)));
        Assert.Equal(expected == IpAddressCategory.Public, WebhookEndpointGuard.IsPublic(IPAddress.Parse(address)));
    }

    [Fact]
    public void An_https_endpoint_resolving_to_public_addresses_is_allowed()
    {
        WebhookEndpointGuard.EnsureAllowed(new Uri("https://hooks.example.com/paymentskit"), [IPAddress.Parse("93.184.216.34"), IPAddress.Parse("2606:2800:220:1::1")]);
    }

    [Theory]
    [InlineData("https://internal.example.com/hook", "10.0.0.1")]
    [InlineData("https://metadata.example.com/latest", "169.254.169.254")]
    [InlineData("https://localhost/hook", "::1")]
    [InlineData("https://localhost/hook", "127.0.0.1")]
    [InlineData("https://mapped.example.com/hook", "::ffff:10.0.0.1")]
    [InlineData("https://zero.example.com/hook", "0.0.0.0")]
    [InlineData("http://hooks.example.com/hook", "93.184.216.34")]
    [InlineData("ftp://hooks.example.com/hook", "93.184.216.34")]
    [InlineData("https://user:pass@hooks.example.com/hook", "93.184.216.34")]
    [InlineData("https://hooks.example.com:0/hook", "93.184.216.34")]
    public void Unsafe_endpoints_are_rejected(string url, string address)
    {
        var ex = Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(new Uri(url), [IPAddress.Parse(address)]));
        Assert.Equal(PaymentsKitErrorCodes.WebhookEndpointRejected, ex.Code);
        Assert.Equal("webhook_url", ex.Context["field"]);
    }

    [Fact]
    public void A_dns_name_resolving_to_any_internal_address_is_rejected()
    {
        var ex = Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(
            new Uri("https://rebind.example.com/hook"), [IPAddress.Parse("93.184.216.34"), IPAddress.Parse("169.254.169.254")]));
        Assert.Contains("169.254.169.254", (string)ex.Context["reason"]!, StringComparison.Ordinal);
        Assert.False(WebhookEndpointGuard.IsAllowed(new Uri("https://nowhere.example.com/"), [], null, out var reason));
        Assert.NotNull(reason);
    }

    [Fact]
    public void Hosts_can_opt_in_to_loopback_over_http_and_to_private_networks()
    {
        var development = new WebhookEndpointPolicy { AllowLoopback = true };
        WebhookEndpointGuard.EnsureAllowed(new Uri("http://localhost:5000/hook"), [IPAddress.Loopback, IPAddress.IPv6Loopback], development);
        Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(new Uri("http://localhost:5000/hook"), [IPAddress.Loopback]));
        Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(new Uri("http://hooks.example.com/"), [IPAddress.Parse("93.184.216.34")], development));

        var intranet = new WebhookEndpointPolicy { AllowPrivateNetworks = true };
        WebhookEndpointGuard.EnsureAllowed(new Uri("https://erp.corp/hook"), [IPAddress.Parse("10.0.0.1"), IPAddress.Parse("fd00::1")], intranet);
        Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(new Uri("http://erp.corp/hook"), [IPAddress.Parse("10.0.0.1")], intranet));

        // Cloud metadata stays off limits whatever the host allows.
        var everything = new WebhookEndpointPolicy { AllowLoopback = true, AllowPrivateNetworks = true };
        Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(new Uri("https://m.example.com/"), [IPAddress.Parse("169.254.169.254")], everything));
        Assert.Throws<PaymentsKitException>(() => WebhookEndpointGuard.EnsureAllowed(new Uri("https://m.example.com/"), [IPAddress.Parse("fe80::1")], everything));
    }
}
