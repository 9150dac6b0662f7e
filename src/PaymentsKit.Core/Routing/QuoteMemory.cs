using System.Runtime.CompilerServices;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>
/// The quotes of a store this process has made or read. A quote is never changed once written, so a remembered one
/// is the stored one; one memory per store lets the payment intent service use the quote the quote service has just
/// made without reading it back.
/// </summary>
internal sealed class QuoteMemory
{
    private static readonly ConditionalWeakTable<IPaymentsStore, QuoteMemory> Memories = [];

    private readonly BoundedMemory<Guid, Quote> _quotes = new(65_536);

    /// <summary>The memory of quotes of <paramref name="store"/>.</summary>
    public static QuoteMemory Of(IPaymentsStore store) => Memories.GetValue(store, static _ => new QuoteMemory());

    /// <summary>A remembered quote of the merchant; null when not remembered (or another merchant's).</summary>
    public Quote? Find(MerchantId merchantId, QuoteId quoteId) =>
        _quotes.TryGet(quoteId.Value, out var known) && known.MerchantId == merchantId ? known : null;

    /// <summary>Remembers a quote that is in the store.</summary>
    public void Remember(Quote quote) => _quotes.Remember(quote.Id.Value, quote);
}
