using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Hosting;
using PaymentsKit.Testing;

namespace PaymentsKit.Sample.Tests;

/// <summary>docs/sample.md against the host it describes.</summary>
public sealed class SampleDocsTests
{
    [Fact]
    public async Task The_sample_page_names_every_background_job_the_host_runs()
    {
        // The names are what an operator puts in DisabledJobs or Intervals; a job the page leaves out runs unannounced.
        await using var host = SampleHost.Build(new SampleOptions { Url = "http://127.0.0.1:0", ApiKeyHashingSecret = TestSecrets.ApiKeyHashingSecret });
        var page = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "docs", "sample.md"));

        var jobs = host.Services.GetServices<IPaymentsKitJob>().Select(job => job.Name).ToList();

        Assert.NotEmpty(jobs);
        var missing = jobs.Where(name => !page.Contains($"`{name}`", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "docs/sample.md does not name: " + string.Join(", ", missing));
    }
}
