using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>All PostgreSQL tests share one throwaway server and run one class at a time.</summary>
[CollectionDefinition(PostgresServerFixture.CollectionName)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServerFixture>;
