namespace PaymentsKit.Storage;

/// <summary>
/// <see cref="IUnitOfWork.ListByAsync{T}"/> for a unit of work that keeps no indexes: the tenant's records paged with the
/// unit's own cursors, walked past those that do not hold the value, so its cost grows with all the tenant's records.
/// </summary>
internal static class IndexWalk
{
    public static async ValueTask<Page<Versioned<T>>> ListAsync<T>(
        IUnitOfWork unit, RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        var valueOf = collection.Index(index).ValueOf;
        BufferedUnitOfWork.CheckLimit(limit);
        var items = new List<Versioned<T>>(Math.Min(limit, 16));

        // Where the unit's page holding the last item taken starts, and that item's place in it.
        var (lastPageStart, lastIndex) = (cursor, -1);
        var position = cursor;
        while (true)
        {
            var page = await unit.ListAsync(collection, tenantId, position, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < page.Items.Count; i++)
            {
                if (valueOf(page.Items[i].Value) != value)
                {
                    continue;
                }

                if (items.Count == limit)
                {
                    // Another match follows: only the unit can name the place right after the last item taken, so it
                    // lists up to it again; more records follow, so that list's next cursor is there.
                    var upToLast = await unit.ListAsync(collection, tenantId, lastPageStart, lastIndex + 1, cancellationToken).ConfigureAwait(false);
                    return new Page<Versioned<T>>(items, upToLast.NextCursor);
                }

                items.Add(page.Items[i]);
                (lastPageStart, lastIndex) = (position, i);
            }

            if (page.NextCursor is null)
            {
                return new Page<Versioned<T>>(items, null);
            }

            position = page.NextCursor;
        }
    }
}
