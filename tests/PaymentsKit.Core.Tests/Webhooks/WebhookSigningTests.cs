using System.Text;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookSigningTests
{
    // The Standard Webhooks specification's published test vector (the reference libraries' "sign works" test).
    private const string VectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string VectorId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long VectorTimestamp = 1614265330;
    private const string VectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    private static readonly byte[] VectorBody = Encoding.UTF8.GetBytes("{\"test\": 2432232314}");
    private static readonly Instant VectorInstant = Instant.FromUnixTimeSeconds(VectorTimestamp);

    private static WebhookVerifier Verifier(Instant now, params string[] secrets) =>
        new(new ManualClock(now), secrets.Select(WebhookSecret.Parse));

    [Fact]
    public void Signing_reproduces_the_specification_test_vector()
    {
        Assert.Equal(VectorSignature, WebhookSigner.Sign(WebhookSecret.Parse(VectorSecret), VectorId, VectorTimestamp, VectorBody));
        Assert.Equal(VectorSignature, WebhookSigner.Sign(WebhookSecret.Parse(VectorSecret), VectorId, VectorInstant + Duration.FromMilliseconds(999), VectorBody));
    }

    [Fact]
    public void The_secret_prefix_is_optional_exactly_as_in_the_reference_libraries()
    {
        Assert.Equal(VectorSignature, WebhookSigner.Sign(WebhookSecret.Parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), VectorId, VectorTimestamp, VectorBody));
    }

    [Fact]
    public void The_test_vector_verifies_at_its_own_time()
    {
        var verifier = Verifier(VectorInstant, VectorSecret);

        Assert.Equal(WebhookVerificationResult.Valid, verifier.Check(VectorId, "1614265330", VectorSignature, VectorBody));
        verifier.Verify(VectorId, "1614265330", VectorSignature, VectorBody);
    }

    [Fact]
    public void The_reference_multi_signature_header_verifies_when_any_v1_entry_matches()
    {
        string[] signatures =
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            VectorSignature,
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ];

        Assert.Equal(WebhookVerificationResult.Valid, Verifier(VectorInstant, VectorSecret).Check(VectorId, "1614265330", string.Join(' ', signatures), VectorBody));
    }

    [Theory]
    [InlineData("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")]
    [InlineData("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd")]
    [InlineData("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1,not base64!")]
    [InlineData("v1,")]
    public void A_wrong_or_malformed_signature_is_invalid(string signature)
    {
        Assert.Equal(WebhookVerificationResult.InvalidSignature, Verifier(VectorInstant, VectorSecret).Check(VectorId, "1614265330", signature, VectorBody));
    }

    [Fact]
    public void A_tampered_body_fails()
    {
        var tampered = Encoding.UTF8.GetBytes("{\"test\": 2432232315}");

        Assert.Equal(WebhookVerificationResult.InvalidSignature, Verifier(VectorInstant, VectorSecret).Check(VectorId, "1614265330", VectorSignature, tampered));
        Assert.Equal(
            WebhookVerificationResult.InvalidSignature,
            Verifier(VectorInstant, VectorSecret).Check(VectorId, "1614265330", VectorSignature, Encoding.UTF8.GetBytes("{\"test\":2432232314}")));
    }

    [Fact]
    public void A_tampered_id_or_timestamp_fails()
    {
        var verifier = Verifier(VectorInstant, VectorSecret);

        Assert.Equal(WebhookVerificationResult.InvalidSignature, verifier.Check("msg_p5jXN8AQM9LWM0D4loKWxJel", "1614265330", VectorSignature, VectorBody));
        Assert.Equal(WebhookVerificationResult.InvalidSignature, verifier.Check(VectorId, "1614265331", VectorSignature, VectorBody));
    }

    [Fact]
    public void A_wrong_secret_fails()
    {
        var other = WebhookSecret.Generate().Reveal();

        Assert.Equal(WebhookVerificationResult.InvalidSignature, Verifier(VectorInstant, other).Check(VectorId, "1614265330", VectorSignature, VectorBody));
    }

    [Fact]
    public void Timestamps_outside_five_minutes_either_way_fail_and_the_boundary_passes()
    {
        var secret = WebhookSecret.Parse(VectorSecret);
        var now = Instant.FromUtc(2026, 5, 1, 12, 0);
        var verifier = new WebhookVerifier(new ManualClock(now), [secret]);
        WebhookVerificationResult At(Instant sent)
        {
            var seconds = sent.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            return verifier.Check(VectorId, seconds, WebhookSigner.Sign(secret, VectorId, sent, VectorBody), VectorBody);
        }

        Assert.Equal(WebhookVerificationResult.Valid, At(now));
        Assert.Equal(WebhookVerificationResult.Valid, At(now - Duration.FromMinutes(5)));
        Assert.Equal(WebhookVerificationResult.Valid, At(now + Duration.FromMinutes(5)));
        Assert.Equal(WebhookVerificationResult.TimestampTooOld, At(now - Duration.FromMinutes(5) - Duration.FromSeconds(1)));
        Assert.Equal(WebhookVerificationResult.TimestampTooNew, At(now + Duration.FromMinutes(5) + Duration.FromSeconds(1)));
        Assert.Equal(WebhookVerificationResult.TimestampTooOld, Verifier(now, VectorSecret).Check(VectorId, "1614265330", VectorSignature, VectorBody));
    }

    [Fact]
    public void The_tolerance_is_configurable()
    {
        var verifier = new WebhookVerifier(new ManualClock(VectorInstant + Duration.FromMinutes(20)), [WebhookSecret.Parse(VectorSecret)], Duration.FromMinutes(30));

        Assert.Equal(Duration.FromMinutes(30), verifier.Tolerance);
        Assert.Equal(WebhookVerificationResult.Valid, verifier.Check(VectorId, "1614265330", VectorSignature, VectorBody));
    }

    [Theory]
    [InlineData(null, "1614265330", VectorSignature, WebhookVerificationResult.MissingId)]
    [InlineData("", "1614265330", VectorSignature, WebhookVerificationResult.MissingId)]
    [InlineData(VectorId, null, VectorSignature, WebhookVerificationResult.MissingTimestamp)]
    [InlineData(VectorId, "1614265330", null, WebhookVerificationResult.MissingSignature)]
    [InlineData(VectorId, "1614265330", "  ", WebhookVerificationResult.MissingSignature)]
    [InlineData(VectorId, "abc", VectorSignature, WebhookVerificationResult.InvalidTimestamp)]
    [InlineData(VectorId, "-1614265330", VectorSignature, WebhookVerificationResult.InvalidTimestamp)]
    [InlineData(VectorId, "1614265330.5", VectorSignature, WebhookVerificationResult.InvalidTimestamp)]
    [InlineData(VectorId, " 1614265330", VectorSignature, WebhookVerificationResult.InvalidTimestamp)]
    [InlineData(VectorId, "99999999999999999999", VectorSignature, WebhookVerificationResult.InvalidTimestamp)]
    [InlineData(VectorId, "999999999999999999", VectorSignature, WebhookVerificationResult.InvalidTimestamp)]
    public void Missing_or_malformed_headers_fail_with_their_reason(string? id, string? timestamp, string? signature, WebhookVerificationResult expected)
    {
        var verifier = Verifier(VectorInstant, VectorSecret);

        Assert.Equal(expected, verifier.Check(id, timestamp, signature, VectorBody));
        var ex = Assert.Throws<PaymentsKitException>(() => verifier.Verify(id, timestamp, signature, VectorBody));
        Assert.Equal(PaymentsKitErrorCodes.WebhookVerificationFailed, ex.Code);
        Assert.Equal(expected.ToString(), ex.Context["reason"]);
    }

    [Fact]
    public void During_a_rotation_both_secrets_sign_and_receivers_with_either_accept()
    {
        var oldSecret = WebhookSecret.Generate();
        var newSecret = WebhookSecret.Generate();
        var now = Instant.FromUtc(2026, 2, 1, 0, 0);
        var body = Encoding.UTF8.GetBytes("{\"type\":\"invoice.paid\"}");

        var headers = WebhookSigner.CreateHeaders([newSecret, oldSecret], "evt_1", now, body);

        Assert.Equal(2, headers.Signature.Split(' ').Length);
        Assert.Equal("1769904000", headers.Timestamp);
        Assert.Equal(
            [new KeyValuePair<string, string>("webhook-id", "evt_1"), new("webhook-timestamp", headers.Timestamp), new("webhook-signature", headers.Signature)],
            headers.ToList());
        foreach (var receiver in new[] { oldSecret, newSecret })
        {
            var verifier = new WebhookVerifier(new ManualClock(now), [receiver]);
            Assert.Equal(WebhookVerificationResult.Valid, verifier.Check(headers.Id, headers.Timestamp, headers.Signature, body));
        }

        var stranger = new WebhookVerifier(new ManualClock(now), [WebhookSecret.Generate()]);
        Assert.Equal(WebhookVerificationResult.InvalidSignature, stranger.Check(headers.Id, headers.Timestamp, headers.Signature, body));
    }

    [Fact]
    public void Secrets_round_trip_and_never_show_in_ToString()
    {
        var secret = WebhookSecret.Generate();
        var revealed = secret.Reveal();

        Assert.StartsWith("whsec_", revealed, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(revealed["whsec_".Length..]).Length);
        Assert.Equal(revealed, WebhookSecret.Parse(revealed).Reveal());
        Assert.Equal(revealed, WebhookSecret.FromBytes(Convert.FromBase64String(revealed["whsec_".Length..])).Reveal());
        Assert.DoesNotContain(revealed["whsec_".Length..], secret.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(revealed, WebhookSecret.Generate().Reveal());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("whsec_")]
    [InlineData("whsec_not*base64")]
    [InlineData("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")] // 22 bytes: below the 24-byte minimum
    [InlineData("whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw")] // base64 decoders skip whitespace; a secret never holds any
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8I\nLPZIo2LaLaSw")]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\r\n")]
    [InlineData("whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\t")]
    [InlineData("MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw")]
    public void Malformed_or_short_secrets_are_rejected_without_echoing_them(string? text)
    {
        var ex = Assert.Throws<PaymentsKitException>(() => WebhookSecret.Parse(text));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, ex.Code);
        if (!string.IsNullOrEmpty(text))
        {
            Assert.DoesNotContain(text, ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Oversized_secrets_are_rejected()
    {
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => WebhookSecret.FromBytes(new byte[65])).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => WebhookSecret.Parse("whsec_" + Convert.ToBase64String(new byte[65]))).Code);
        Assert.NotNull(WebhookSecret.FromBytes(new byte[64]));
        Assert.NotNull(WebhookSecret.FromBytes(new byte[24]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("msg.1")]
    [InlineData("msg 1")]
    [InlineData("msg\n1")]
    [InlineData("msg_é")]
    [InlineData("msg,1")]
    public void Ids_that_would_make_the_signed_content_ambiguous_or_break_headers_are_rejected(string id)
    {
        var ex = Assert.Throws<PaymentsKitException>(() => WebhookSigner.Sign(WebhookSecret.Parse(VectorSecret), id, VectorTimestamp, VectorBody));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, ex.Code);
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("msg\n1")]
    [InlineData("msg\u00001")]
    [InlineData("msg\u007f1")]
    [InlineData("msg_1, msg_2")] // two webhook-id headers folded into one
    [InlineData("msg,1")]
    [InlineData("msg 1")]
    [InlineData("msg.1")]
    [InlineData("msg_é")]
    public void A_correctly_signed_webhook_with_a_malformed_id_fails_verification(string id)
    {
        // Signed here by hand, as any sender could: the signer itself refuses these ids.
        var key = Convert.FromBase64String(VectorSecret["whsec_".Length..]);
        var content = Encoding.UTF8.GetBytes($"{id}.{VectorTimestamp}.").Concat(VectorBody).ToArray();
        var signature = "v1," + Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(key, content));
        var verifier = Verifier(VectorInstant, VectorSecret);

        Assert.NotEqual(WebhookVerificationResult.Valid, verifier.Check(id, VectorTimestamp.ToString(System.Globalization.CultureInfo.InvariantCulture), signature, VectorBody));
        var ex = Assert.Throws<PaymentsKitException>(() => verifier.Verify(id, VectorTimestamp.ToString(System.Globalization.CultureInfo.InvariantCulture), signature, VectorBody));
        Assert.Equal(PaymentsKitErrorCodes.WebhookVerificationFailed, ex.Code);
        Assert.Equal("InvalidId", ex.Context["reason"]);
        Assert.DoesNotContain(ex.Message, char.IsControl);
    }

    [Fact]
    public void An_over_long_id_fails_verification_and_the_longest_allowed_verifies()
    {
        var verifier = Verifier(VectorInstant, VectorSecret);
        var longest = new string('a', WebhookSigner.MaxIdLength);
        var headers = WebhookSigner.CreateHeaders([WebhookSecret.Parse(VectorSecret)], longest, VectorInstant, VectorBody);
        Assert.Equal(WebhookVerificationResult.Valid, verifier.Check(headers.Id, headers.Timestamp, headers.Signature, VectorBody));

        var tooLong = longest + "a";
        var key = Convert.FromBase64String(VectorSecret["whsec_".Length..]);
        var content = Encoding.UTF8.GetBytes($"{tooLong}.{headers.Timestamp}.").Concat(VectorBody).ToArray();
        var signature = "v1," + Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(key, content));
        var ex = Assert.Throws<PaymentsKitException>(() => verifier.Verify(tooLong, headers.Timestamp, signature, VectorBody));
        Assert.Equal("InvalidId", ex.Context["reason"]);
    }

    [Fact]
    public void Other_bad_signer_and_verifier_input_is_rejected()
    {
        var secret = WebhookSecret.Parse(VectorSecret);

        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => WebhookSigner.Sign(secret, VectorId, -1, VectorBody)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => WebhookSigner.Sign(secret, new string('a', 257), 1, VectorBody)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => WebhookSigner.CreateHeaders([], VectorId, VectorInstant, VectorBody)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => new WebhookVerifier(new ManualClock(), [])).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => new WebhookVerifier(new ManualClock(), [secret], Duration.Zero)).Code);
    }

    [Fact]
    public void Signed_messages_verify_and_any_changed_byte_fails_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from idLength in Gen.Choose(1, 40)
                from idChars in Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:".ToCharArray()), idLength)
                from body in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))
                from skew in Gen.Choose(-300, 300)
                from flip in Gen.Choose(0, int.MaxValue)
                from seconds in Gen.Choose(0, int.MaxValue)
                select (id: new string(idChars), body, skew, flip, seconds)),
            t =>
            {
                var secret = WebhookSecret.Generate();
                var sent = Instant.FromUnixTimeSeconds(t.seconds);
                var headers = WebhookSigner.CreateHeaders([secret], t.id, sent, t.body);
                var verifier = new WebhookVerifier(new ManualClock(sent + Duration.FromSeconds(t.skew)), [secret]);

                Assert.Equal(WebhookVerificationResult.Valid, verifier.Check(headers.Id, headers.Timestamp, headers.Signature, t.body));
                if (t.body.Length > 0)
                {
                    var tampered = t.body.ToArray();
                    tampered[t.flip % tampered.Length] ^= (byte)(1 + (t.flip % 255));
                    Assert.Equal(WebhookVerificationResult.InvalidSignature, verifier.Check(headers.Id, headers.Timestamp, headers.Signature, tampered));
                }

                Assert.Equal(WebhookVerificationResult.InvalidSignature, verifier.Check(headers.Id, headers.Timestamp, headers.Signature, [.. t.body, 0x20]));
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void Rotated_signatures_verify_with_either_secret_and_only_for_their_id_and_timestamp_within_the_tolerance_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from id in Gen.Choose(1, int.MaxValue).Select(n => "msg_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture))
                from body in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))
                from skew in Gen.Choose(-900, 900)
                from seconds in Gen.Choose(1_000, int.MaxValue)
                from otherId in Gen.Choose(1, int.MaxValue).Select(n => "msg_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture))
                from shift in Gen.Choose(1, 300)
                select (id, body, skew, seconds, otherId, shift)),
            t =>
            {
                var (old, fresh, stranger) = (WebhookSecret.Generate(), WebhookSecret.Generate(), WebhookSecret.Generate());
                var sent = Instant.FromUnixTimeSeconds(t.seconds);
                var headers = WebhookSigner.CreateHeaders([old, fresh], t.id, sent, t.body);
                var clock = new ManualClock(sent + Duration.FromSeconds(t.skew));
                var within = Math.Abs(t.skew) <= 300;
                var expected = within ? WebhookVerificationResult.Valid : t.skew > 0 ? WebhookVerificationResult.TimestampTooOld : WebhookVerificationResult.TimestampTooNew;

                // During a rotation a receiver holding either secret accepts; one holding neither never does.
                Assert.Equal(expected, new WebhookVerifier(clock, [old]).Check(headers.Id, headers.Timestamp, headers.Signature, t.body));
                Assert.Equal(expected, new WebhookVerifier(clock, [fresh]).Check(headers.Id, headers.Timestamp, headers.Signature, t.body));
                Assert.Equal(within ? WebhookVerificationResult.InvalidSignature : expected, new WebhookVerifier(clock, [stranger]).Check(headers.Id, headers.Timestamp, headers.Signature, t.body));

                // The signature covers the id and the timestamp: replaying it under another id or time fails.
                var verifier = new WebhookVerifier(new ManualClock(sent), [old, stranger]);
                if (t.otherId != t.id)
                {
                    Assert.Equal(WebhookVerificationResult.InvalidSignature, verifier.Check(t.otherId, headers.Timestamp, headers.Signature, t.body));
                }

                var moved = ((long)t.seconds + t.shift).ToString(System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(WebhookVerificationResult.InvalidSignature, verifier.Check(headers.Id, moved, headers.Signature, t.body));
            }).QuickCheckThrowOnFailure();
}
