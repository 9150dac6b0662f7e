using System.Runtime.CompilerServices;

namespace PaymentsKit.Storage;

/// <summary>
/// Reads a collection across every tenant a global collection lists, page by page: the store-scan queues' way of finding
/// work across merchants or partners (linear in all the records, so for the in-memory store, development and tests).
/// </summary>
internal static class TenantScan
{
    /// <summary>Every record of <paramref name="items"/> of every record of <paramref name="tenants"/>, with that tenant, in the unit's order.</summary>
    /// <param name="unit">The unit of work to read in.</param>
    /// <param name="tenants">The global collection (tenant <see cref="Guid.Empty"/>) listing the tenants.</param>
    /// <param name="tenantId">The tenant id a record of <paramref name="tenants"/> stands for.</param>
    /// <param name="items">The collection to read of each tenant.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    public static async IAsyncEnumerable<(TTenant Tenant, T Item)> AllAsync<TTenant, T>(
        IUnitOfWork unit,
        RecordCollection<TTenant> tenants,
        Func<TTenant, Guid> tenantId,
        RecordCollection<T> items,
        [EnumeratorCancellation] CancellationToken cancellationToken)
        where TTenant : class
        where T : class
    {
        string? tenantCursor = null;
        do
        {
            var tenantPage = await unit.ListAsync(tenants, Guid.Empty, tenantCursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            foreach (var tenant in tenantPage.Items)
            {
                string? cursor = null;
                do
                {
                    var page = await unit.ListAsync(items, tenantId(tenant.Value), cursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
                    foreach (var item in page.Items)
                    {
                        yield return (tenant.Value, item.Value);
                    }

                    cursor = page.NextCursor;
                }
                while (cursor is not null);
            }

            tenantCursor = tenantPage.NextCursor;
        }
        while (tenantCursor is not null);
    }
}
