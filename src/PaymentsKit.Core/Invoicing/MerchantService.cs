using PaymentsKit.Storage;
using static PaymentsKit.Invoicing.InvoicingCollections;

namespace PaymentsKit.Invoicing;

/// <summary>The store-backed <see cref="IMerchantService"/>.</summary>
internal sealed class MerchantService(InvoicingContext context) : IMerchantService
{
    public async ValueTask<Merchant> RegisterMerchantAsync(RegisterMerchantRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var chain = ChainId.Of(request.Chain);
        var wallet = context.Chains.Get(chain).ParseAddress(request.WalletAddress).Value;
        var email = InvoicingValidation.Email(request.Email, "email");
        var name = Guard.OptionalText(request.Name, "name", 200);
        var now = context.Clock.GetCurrentInstant();
        var merchant = new Merchant(MerchantId.New(context.Clock), chain, wallet, email, name, EmailVerified: false, now, now);
        try
        {
            return await context.Store.ExecuteAsync(
                async (unit, ct) =>
                {
                    if (await unit.FindAsync(Merchants, Guid.Empty, WalletKey, Wallet(chain, wallet), ct).ConfigureAwait(false) is not null)
                    {
                        throw InvoicingValidation.Duplicate("walletAddress", wallet, "by another merchant");
                    }

                    if (email is not null
                        && await unit.FindAsync(Merchants, Guid.Empty, EmailKey, NormalizeEmail(email), ct).ConfigureAwait(false) is not null)
                    {
                        throw InvoicingValidation.Duplicate("email", email, "by another merchant");
                    }

                    unit.Insert(Merchants, merchant);
                    return merchant;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (InvoicingContext.DuplicateKeyOf(ex) is WalletKey or EmailKey)
        {
            // A concurrent registration took the wallet or email between the check and the commit.
            throw InvoicingContext.DuplicateKeyOf(ex) == WalletKey
                ? InvoicingValidation.Duplicate("walletAddress", wallet, "by another merchant")
                : InvoicingValidation.Duplicate("email", email!, "by another merchant");
        }
    }

    public ValueTask<Merchant> GetMerchantAsync(MerchantId merchant, CancellationToken cancellationToken = default) =>
        context.RequireMerchantAsync(merchant, cancellationToken);

    public async ValueTask<Merchant?> FindMerchantByWalletAsync(string chain, string walletAddress, CancellationToken cancellationToken = default)
    {
        var chainId = ChainId.Of(chain);
        var wallet = context.Chains.Get(chainId).ParseAddress(walletAddress).Value;
        var unit = await context.Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await unit.FindAsync(Merchants, Guid.Empty, WalletKey, Wallet(chainId, wallet), cancellationToken).ConfigureAwait(false))?.Value;
        }
    }

    public ValueTask<Merchant> MarkEmailVerifiedAsync(MerchantId merchant, CancellationToken cancellationToken = default) =>
        context.Store.ExecuteAsync(
            async (unit, ct) =>
            {
                var found = await unit.GetAsync(Merchants, Guid.Empty, merchant.Value, ct).ConfigureAwait(false)
                    ?? throw InvoicingValidation.NotFound("merchant", merchant);
                if (found.Value.Email is null)
                {
                    throw PaymentsKitException.InvalidArgument("email", null, "must be set before it can be verified");
                }

                if (found.Value.EmailVerified)
                {
                    return found.Value;
                }

                var verified = found.Value with { EmailVerified = true, UpdatedAt = context.Clock.GetCurrentInstant() };
                unit.Update(Merchants, verified, found.Version);
                return verified;
            },
            cancellationToken);

    public async ValueTask<Client> CreateClientAsync(MerchantId merchant, CreateClientRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var name = Guard.Text(request.Name, "name", 200);
        var email = InvoicingValidation.Email(request.Email, "email");
        var metadata = InvoicingValidation.Metadata(request.Metadata);
        try
        {
            return await context.Store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var owner = await InvoicingContext.RequireMerchantAsync(unit, merchant, ct).ConfigureAwait(false);
                    var wallet = request.WalletAddress is null ? null : context.Chains.Get(owner.Chain).ParseAddress(request.WalletAddress).Value;
                    if (email is not null
                        && await unit.FindAsync(Clients, merchant.Value, EmailKey, Scoped(merchant, NormalizeEmail(email)), ct).ConfigureAwait(false) is not null)
                    {
                        throw DuplicateEmail(email);
                    }

                    var now = context.Clock.GetCurrentInstant();
                    var client = new Client(ClientId.New(context.Clock), merchant, name, email, wallet, metadata, now, now);
                    unit.Insert(Clients, client);
                    return client;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (InvoicingContext.DuplicateKeyOf(ex) == EmailKey)
        {
            throw DuplicateEmail(email!);
        }
    }

    public ValueTask<Client> GetClientAsync(MerchantId merchant, ClientId client, CancellationToken cancellationToken = default) =>
        context.GetAsync(Clients, merchant, client.Value, "client", client, cancellationToken);

    public ValueTask<Page<Client>> ListClientsAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        context.ListAsync(Clients, merchant, cursor, limit, cancellationToken);

    private static PaymentsKitException DuplicateEmail(string email) =>
        InvoicingValidation.Duplicate("email", email, "by another client of this merchant");
}
