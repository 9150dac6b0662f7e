using Microsoft.Extensions.Options;
using PaymentsKit.Hosting.Jobs;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Hosting.Tests;

public sealed class WebhookDispatchJobTests
{
    [Fact]
    public async Task Deliveries_put_back_unsent_are_not_reported_as_processed()
    {
        var job = Job(new WebhookDispatchResult(0, 5, 1, 1, 0, 0) { NotSent = 3 });

        Assert.Equal(new PaymentsKitJobResult(2), await job.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_run_whose_claims_all_went_back_unsent_waits_its_interval_instead_of_running_again_at_once()
    {
        // Unsent deliveries are due again at once: reporting more work for them would claim them straight back, and with a
        // lease too short for the wait behind MaxConcurrency put them back again, over and over without a pause.
        var job = Job(new WebhookDispatchResult(0, 100, 0, 0, 0, 0) { NotSent = 100, MoreWork = true });

        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_full_run_that_sent_some_of_its_claims_still_reports_more_work()
    {
        var job = Job(new WebhookDispatchResult(0, 100, 98, 0, 0, 1) { NotSent = 1, MoreWork = true });

        Assert.Equal(new PaymentsKitJobResult(99, MoreWork: true), await job.RunAsync(CancellationToken.None));
    }

    private static WebhookDispatchJob Job(WebhookDispatchResult result) =>
        new(new FixedDispatcher(result), Options.Create(new PaymentsKitHostingOptions()));

    private sealed class FixedDispatcher(WebhookDispatchResult result) : IWebhookDispatcher
    {
        public ValueTask<WebhookDispatchResult> DispatchAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(result);

        public ValueTask<WebhookDispatchResult> DrainAsync(TimeSpan budget, CancellationToken cancellationToken = default) => ValueTask.FromResult(result);
    }
}
