using Azure;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Tables;

public sealed class TableClientTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<TableClient> NewTableAsync()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient(AzuriteFixture.NewName("tbl"));
        Assert.True(await table.CreateIfNotExistsAsync(Ct));
        return table;
    }

    [Fact]
    public async Task Create_if_not_exists_creates_once_and_then_reports_existing()
    {
        var service = new TableServiceClient(azurite.ConnectionString);
        var name = AzuriteFixture.NewName("tbl");
        Assert.True(await service.CreateTableIfNotExistsAsync(name, Ct));
        Assert.False(await service.CreateTableIfNotExistsAsync(name, Ct));
        Assert.True(await service.DeleteTableAsync(name, Ct));
        Assert.False(await service.DeleteTableAsync(name, Ct));
    }

    [Fact]
    public async Task Listing_tables_pages_through_all_of_them()
    {
        var service = new TableServiceClient(azurite.ConnectionString);
        var prefix = AzuriteFixture.NewName("list");
        var names = Enumerable.Range(0, 7).Select(i => $"{prefix}n{i}").ToList();
        foreach (var name in names)
        {
            await service.CreateTableIfNotExistsAsync(name, Ct);
        }
        var filter = TableQueryFilter.Create($"TableName ge {prefix} and TableName lt {prefix + "o"}");
        var pages = await service.QueryTablesAsync(filter, maxPerPage: 3, Ct).AsPages().ToListAsync(Ct);
        Assert.Equal(names, pages.SelectMany(p => p.Values).Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.True(pages.Count >= 3);
    }

    [Fact]
    public async Task Every_property_type_round_trips_exactly()
    {
        var table = await NewTableAsync();
        var at = new DateTimeOffset(2026, 11, 21, 8, 30, 15, TimeSpan.FromHours(2)).AddTicks(1234567);
        var row = new TestRow
        {
            PartitionKey = "p", RowKey = "r", Name = "Ünïcødé \"quoted\" 'single'", Count = -42, Amount = long.MaxValue - 7,
            Ratio = 0.1, Active = false, At = at, Id = Guid.NewGuid(), Blob = [0, 1, 2, 255],
        };
        await table.AddEntityAsync(row, Ct);
        Assert.NotEqual(default, row.ETag);

        var read = (await table.GetEntityAsync<TestRow>("p", "r", cancellationToken: Ct)).Value;
        Assert.Equal(row.Name, read.Name);
        Assert.Equal(-42, read.Count);
        Assert.Equal(long.MaxValue - 7, read.Amount);
        Assert.Equal(0.1, read.Ratio);
        Assert.False(read.Active);
        Assert.Equal(at, read.At);
        Assert.Equal(row.Id, read.Id);
        Assert.Equal(row.Blob, read.Blob);
        Assert.Equal(row.ETag, read.ETag);
        Assert.NotNull(read.Timestamp);
    }

    [Fact]
    public async Task Untyped_entity_reads_back_with_the_types_it_was_written_with()
    {
        var table = await NewTableAsync();
        var id = Guid.NewGuid();
        await table.AddEntityAsync(new TableEntity("p", "r") { ["S"] = "x", ["I"] = 7, ["L"] = 7L, ["D"] = 2.0, ["G"] = id }, Ct);
        var read = (await table.GetEntityAsync<TableEntity>("p", "r", cancellationToken: Ct)).Value;
        Assert.Equal("x", read["S"]);
        Assert.Equal(7, read["I"]);
        Assert.Equal(7L, read["L"]);
        Assert.Equal(2.0, read["D"]);
        Assert.Equal(id, read["G"]);
    }

    [Fact]
    public async Task Adding_an_existing_row_fails_with_EntityAlreadyExists()
    {
        var table = await NewTableAsync();
        await table.AddEntityAsync(TestRow.Create("p", "r", "first"), Ct);
        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => table.AddEntityAsync(TestRow.Create("p", "r", "second"), Ct));
        Assert.Equal(409, ex.Status);
        Assert.Equal("EntityAlreadyExists", ex.ErrorCode);
        Assert.Equal("first", (await table.GetEntityAsync<TestRow>("p", "r", cancellationToken: Ct)).Value.Name);
    }

    [Fact]
    public async Task Update_under_a_stale_etag_is_rejected_with_412_and_changes_nothing()
    {
        var table = await NewTableAsync();
        var row = TestRow.Create("p", "r", "v1");
        await table.AddEntityAsync(row, Ct);
        var stale = row.ETag;
        row.Name = "v2";
        await table.UpdateEntityAsync(row, stale, TableUpdateMode.Replace, Ct);
        Assert.NotEqual(stale, row.ETag);

        var loser = TestRow.Create("p", "r", "lost update");
        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => table.UpdateEntityAsync(loser, stale, TableUpdateMode.Replace, Ct));
        Assert.Equal(412, ex.Status);
        Assert.Equal("UpdateConditionNotSatisfied", ex.ErrorCode);
        Assert.Equal("v2", (await table.GetEntityAsync<TestRow>("p", "r", cancellationToken: Ct)).Value.Name);
    }

    [Fact]
    public async Task Delete_under_a_stale_etag_is_rejected_and_under_the_current_one_removes_the_row()
    {
        var table = await NewTableAsync();
        var row = TestRow.Create("p", "r", "v1");
        await table.AddEntityAsync(row, Ct);
        var stale = row.ETag;
        await table.UpsertEntityAsync(TestRow.Create("p", "r", "v2"), TableUpdateMode.Merge, Ct);

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => table.DeleteEntityAsync("p", "r", stale, Ct));
        Assert.Equal(412, ex.Status);

        var current = (await table.GetEntityAsync<TestRow>("p", "r", cancellationToken: Ct)).Value;
        await table.DeleteEntityAsync("p", "r", current.ETag, Ct);
        Assert.Null(await table.GetEntityIfExistsAsync<TestRow>("p", "r", Ct));
    }

    [Fact]
    public async Task Upsert_merge_keeps_other_properties_and_upsert_replace_drops_them()
    {
        var table = await NewTableAsync();
        await table.UpsertEntityAsync(new TestRow { PartitionKey = "p", RowKey = "r", Name = "n", Count = 1 }, TableUpdateMode.Merge, Ct);
        await table.UpsertEntityAsync(new TestRow { PartitionKey = "p", RowKey = "r", Count = 2 }, TableUpdateMode.Merge, Ct);
        var merged = (await table.GetEntityAsync<TestRow>("p", "r", cancellationToken: Ct)).Value;
        Assert.Equal(("n", 2), (merged.Name, merged.Count));

        await table.UpsertEntityAsync(new TestRow { PartitionKey = "p", RowKey = "r", Count = 3 }, TableUpdateMode.Replace, Ct);
        var replaced = (await table.GetEntityAsync<TestRow>("p", "r", cancellationToken: Ct)).Value;
        Assert.Equal((null, 3), (replaced.Name, replaced.Count));
    }

    [Fact]
    public async Task A_missing_row_is_404_ResourceNotFound_or_null()
    {
        var table = await NewTableAsync();
        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => table.GetEntityAsync<TestRow>("p", "nope", cancellationToken: Ct));
        Assert.Equal(404, ex.Status);
        Assert.Equal("ResourceNotFound", ex.ErrorCode);
        Assert.Null(await table.GetEntityIfExistsAsync<TestRow>("p", "nope", Ct));
    }

    [Fact]
    public async Task Keys_with_quotes_spaces_and_unicode_work_for_every_operation()
    {
        var table = await NewTableAsync();
        const string pk = "team 'ö' & co";
        const string rk = "it's 100% = +ok ☃";
        var row = TestRow.Create(pk, rk, "a");
        await table.AddEntityAsync(row, Ct);
        row.Name = "b";
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge, Ct);
        var read = (await table.GetEntityAsync<TestRow>(pk, rk, cancellationToken: Ct)).Value;
        Assert.Equal((pk, rk, "b"), (read.PartitionKey, read.RowKey, read.Name));

        await table.SubmitTransactionAsync([new TableTransactionAction(TableTransactionActionType.UpdateMerge, TestRow.Create(pk, rk, "c"), read.ETag)], Ct);
        var filtered = await table.QueryAsync<TestRow>(TableQueryFilter.Create($"PartitionKey eq {pk} and RowKey eq {rk}"), cancellationToken: Ct).ToListAsync(Ct);
        Assert.Equal("c", Assert.Single(filtered).Name);
        await table.DeleteEntityAsync(pk, rk, cancellationToken: Ct);
        Assert.Null(await table.GetEntityIfExistsAsync<TestRow>(pk, rk, Ct));
    }

    [Fact]
    public async Task Query_follows_continuation_across_pages_over_2500_entities_lazily()
    {
        var table = await NewTableAsync();
        for (var batch = 0; batch < 25; batch++)
        {
            var actions = Enumerable.Range(batch * 100, 100)
                .Select(i => new TableTransactionAction(TableTransactionActionType.Add, new TestRow { PartitionKey = "p", RowKey = $"{i:D5}", Count = i }));
            await table.SubmitTransactionAsync(actions, Ct);
        }

        var pages = 0;
        var rows = new List<TestRow>();
        await foreach (var page in table.QueryAsync<TestRow>(TableQueryFilter.Create($"PartitionKey eq {"p"}"), maxPerPage: 1000, cancellationToken: Ct).AsPages())
        {
            pages++;
            Assert.True(page.Values.Count <= 1000);
            rows.AddRange(page.Values);
        }
        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(0, 2500), rows.Select(r => r.Count!.Value));

        // Lazy: taking the first rows fetches only the first page.
        var first = await table.QueryAsync<TestRow>(maxPerPage: 10, cancellationToken: Ct).AsPages().FirstAsync(Ct);
        Assert.Equal(10, first.Values.Count);
        Assert.NotNull(first.ContinuationToken);
        var resumed = await table.QueryAsync<TestRow>(maxPerPage: 10, cancellationToken: Ct).AsPages(first.ContinuationToken).FirstAsync(Ct);
        Assert.Equal("00010", resumed.Values[0].RowKey);
    }

    [Fact]
    public async Task Select_returns_only_the_named_properties()
    {
        var table = await NewTableAsync();
        await table.AddEntityAsync(new TestRow { PartitionKey = "p", RowKey = "r", Name = "n", Count = 5 }, Ct);
        var row = await table.QueryAsync<TestRow>(select: ["Count"], cancellationToken: Ct).SingleAsync(Ct);
        Assert.Equal((null, 5), (row.Name, row.Count));
    }

    [Fact]
    public async Task A_filter_value_with_quotes_or_an_injection_attempt_matches_only_itself()
    {
        var table = await NewTableAsync();
        await table.AddEntityAsync(TestRow.Create("p", "1", "plain"), Ct);
        await table.AddEntityAsync(TestRow.Create("p", "2", "O'Brien"), Ct);

        var injection = "' or '1' eq '1";
        var none = await table.QueryAsync<TestRow>(TableQueryFilter.Create($"PartitionKey eq {"p"} and Name eq {injection}"), cancellationToken: Ct).ToListAsync(Ct);
        Assert.Empty(none);
        var pkInjection = await table.QueryAsync<TestRow>(TableQueryFilter.Create($"PartitionKey eq {"x' or PartitionKey eq 'p"}"), cancellationToken: Ct).ToListAsync(Ct);
        Assert.Empty(pkInjection);

        var quoted = await table.QueryAsync<TestRow>(TableQueryFilter.Create($"Name eq {"O'Brien"}"), cancellationToken: Ct).ToListAsync(Ct);
        Assert.Equal("2", Assert.Single(quoted).RowKey);
    }

    [Fact]
    public async Task Typed_filter_literals_compare_by_type()
    {
        var table = await NewTableAsync();
        var at = DateTimeOffset.UtcNow;
        var id = Guid.NewGuid();
        await table.AddEntityAsync(new TestRow { PartitionKey = "p", RowKey = "1", Amount = 5_000_000_000, At = at, Id = id, Active = true }, Ct);
        await table.AddEntityAsync(new TestRow { PartitionKey = "p", RowKey = "2", Amount = 1, At = at.AddDays(-1), Id = Guid.NewGuid(), Active = false }, Ct);
        async Task<string> Only(FormattableString f) =>
            Assert.Single(await table.QueryAsync<TestRow>(TableQueryFilter.Create(f), cancellationToken: Ct).ToListAsync(Ct)).RowKey;
        Assert.Equal("1", await Only($"Amount gt {4_000_000_000L}"));
        Assert.Equal("2", await Only($"At lt {at.AddHours(-1)}"));
        Assert.Equal("1", await Only($"Id eq {id}"));
        Assert.Equal("2", await Only($"Active eq {false}"));
    }

    [Fact]
    public async Task A_transaction_commits_every_action_and_returns_each_new_etag()
    {
        var table = await NewTableAsync();
        var existing = TestRow.Create("p", "u", "old");
        await table.AddEntityAsync(existing, Ct);
        await table.AddEntityAsync(TestRow.Create("p", "d"), Ct);

        var result = await table.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Add, TestRow.Create("p", "a", "new")),
            new TableTransactionAction(TableTransactionActionType.UpdateReplace, TestRow.Create("p", "u", "updated"), existing.ETag),
            new TableTransactionAction(TableTransactionActionType.UpsertMerge, TestRow.Create("p", "m", "merged")),
            TableTransactionAction.Delete("p", "d", ETag.All),
        ], Ct);

        Assert.Equal(4, result.Value.Count);
        var updated = (await table.GetEntityAsync<TestRow>("p", "u", cancellationToken: Ct)).Value;
        Assert.Equal("updated", updated.Name);
        Assert.Equal(updated.ETag, result.Value[1].ETag);
        Assert.Equal((await table.GetEntityAsync<TestRow>("p", "a", cancellationToken: Ct)).Value.ETag, result.Value[0].ETag);
        Assert.Null(await table.GetEntityIfExistsAsync<TestRow>("p", "d", Ct));
    }

    [Fact]
    public async Task A_transaction_with_one_failing_action_applies_none_and_names_the_failing_index()
    {
        var table = await NewTableAsync();
        await table.AddEntityAsync(TestRow.Create("p", "b", "original"), Ct);

        var ex = await Assert.ThrowsAsync<TableTransactionFailedException>(() => table.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Add, TestRow.Create("p", "a")),
            new TableTransactionAction(TableTransactionActionType.UpsertReplace, TestRow.Create("p", "c", "c")),
            new TableTransactionAction(TableTransactionActionType.Add, TestRow.Create("p", "b", "duplicate")),
            new TableTransactionAction(TableTransactionActionType.Add, TestRow.Create("p", "d")),
        ], Ct));

        Assert.Equal(2, ex.FailedTransactionActionIndex);
        Assert.Equal("EntityAlreadyExists", ex.ErrorCode);
        Assert.Equal(409, ex.Status);
        var rows = await table.QueryAsync<TestRow>(cancellationToken: Ct).ToListAsync(Ct);
        Assert.Equal("b", Assert.Single(rows).RowKey);
        Assert.Equal("original", rows[0].Name);
    }

    [Fact]
    public async Task A_transaction_update_under_a_stale_etag_fails_with_412_and_applies_nothing()
    {
        var table = await NewTableAsync();
        var row = TestRow.Create("p", "w", "v1");
        await table.AddEntityAsync(row, Ct);
        var stale = row.ETag;
        await table.UpsertEntityAsync(TestRow.Create("p", "w", "v2"), TableUpdateMode.Replace, Ct);

        var ex = await Assert.ThrowsAsync<TableTransactionFailedException>(() => table.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Add, TestRow.Create("p", "line1")),
            new TableTransactionAction(TableTransactionActionType.UpdateMerge, TestRow.Create("p", "w", "v3"), stale),
        ], Ct));
        Assert.Equal(412, ex.Status);
        Assert.Equal(1, ex.FailedTransactionActionIndex);
        Assert.Null(await table.GetEntityIfExistsAsync<TestRow>("p", "line1", Ct));
    }

    [Fact]
    public async Task A_transaction_is_checked_before_sending_size_partition_and_repeated_rows()
    {
        var table = await NewTableAsync();
        var tooMany = Enumerable.Range(0, 101).Select(i => new TableTransactionAction(TableTransactionActionType.Add, TestRow.Create("p", $"{i}")));
        await Assert.ThrowsAsync<ArgumentException>(() => table.SubmitTransactionAsync(tooMany, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => table.SubmitTransactionAsync(
            [new(TableTransactionActionType.Add, TestRow.Create("p", "1")), new(TableTransactionActionType.Add, TestRow.Create("q", "1"))], Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => table.SubmitTransactionAsync(
            [new(TableTransactionActionType.Add, TestRow.Create("p", "1")), new(TableTransactionActionType.UpsertMerge, TestRow.Create("p", "1"))], Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => table.SubmitTransactionAsync([], Ct));
    }

    [Fact]
    public async Task Concurrent_increments_under_etags_lose_no_update()
    {
        var table = await NewTableAsync();
        await table.AddEntityAsync(new TestRow { PartitionKey = "p", RowKey = "counter", Count = 0 }, Ct);
        await Parallel.ForEachAsync(Enumerable.Range(0, 20), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = Ct }, async (_, ct) =>
        {
            while (true)
            {
                var current = (await table.GetEntityAsync<TestRow>("p", "counter", cancellationToken: ct)).Value;
                current.Count++;
                try
                {
                    await table.UpdateEntityAsync(current, current.ETag, TableUpdateMode.Replace, ct);
                    return;
                }
                catch (RequestFailedException ex) when (ex.Status == 412)
                {
                    // Lost the race: read again.
                }
            }
        });
        Assert.Equal(20, (await table.GetEntityAsync<TestRow>("p", "counter", cancellationToken: Ct)).Value.Count);
    }
}
