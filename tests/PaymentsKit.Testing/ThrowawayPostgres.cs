using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace PaymentsKit.Testing;

/// <summary>
/// A PostgreSQL server for tests and the load harness. With <see cref="ConnectionStringVariable"/> set,
/// it uses that server; otherwise it finds <c>initdb</c>/<c>pg_ctl</c> (PATH, then
/// <c>/usr/lib/postgresql/*/bin</c>), creates a cluster in a temporary folder (as the <c>postgres</c>
/// user when running as root), listens on 127.0.0.1 on a free port with trust auth and fsync off,
/// and on dispose stops it and deletes the folder. Usable outside xunit.
/// </summary>
public sealed class ThrowawayPostgres : IAsyncDisposable
{
    /// <summary>Names an existing server to use instead of starting one.</summary>
    public const string ConnectionStringVariable = "PAYMENTSKIT_TEST_PG";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    private readonly string? _binDirectory;
    private readonly string? _root;
    private readonly bool _asPostgresUser;
    private readonly ConcurrentBag<string> _createdDatabases = [];
    private int _disposed;

    private ThrowawayPostgres(string adminConnectionString, string? binDirectory, string? root, bool asPostgresUser)
    {
        AdminConnectionString = adminConnectionString;
        _binDirectory = binDirectory;
        _root = root;
        _asPostgresUser = asPostgresUser;
        if (root is not null)
        {
            AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        }
    }

    /// <summary>A superuser connection string to the maintenance database.</summary>
    public string AdminConnectionString { get; }

    /// <summary>Whether the server is an existing one named by <see cref="ConnectionStringVariable"/>.</summary>
    public bool IsExternal => _root is null;

    /// <summary>Starts a throwaway server, or connects to the one named by <see cref="ConnectionStringVariable"/>.</summary>
    /// <exception cref="PostgresUnavailableException">PostgreSQL cannot be found, started or reached.</exception>
    public static async Task<ThrowawayPostgres> StartAsync(CancellationToken cancellationToken = default)
    {
        var external = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            var server = new ThrowawayPostgres(external, null, null, false);
            await server.PingAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }

        var bin = FindBinDirectory()
            ?? throw new PostgresUnavailableException("PostgreSQL's initdb and pg_ctl were found neither on PATH nor in /usr/lib/postgresql/*/bin.");
        var root = Directory.CreateTempSubdirectory("paymentskit-pg-").FullName;
        var asPostgres = IsRoot();
        try
        {
            return await StartClusterAsync(bin, root, asPostgres, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            TryDelete(root);
            throw;
        }
    }

    /// <summary>The folder holding <c>initdb</c> and <c>pg_ctl</c>, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinDirectory()
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(folder, "initdb")) && File.Exists(Path.Combine(folder, "pg_ctl")))
            {
                return folder;
            }
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (!Directory.Exists(debianRoot))
        {
            return null;
        }

        return Directory.GetDirectories(debianRoot)
            .Select(d => (Folder: Path.Combine(d, "bin"), Major: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1))
            .Where(c => File.Exists(Path.Combine(c.Folder, "initdb")) && File.Exists(Path.Combine(c.Folder, "pg_ctl")))
            .OrderByDescending(c => c.Major)
            .Select(c => c.Folder)
            .FirstOrDefault();
    }

    /// <summary>Creates an empty database and returns a connection string to it.</summary>
    /// <param name="prefix">Readable part of the name (letters, digits, underscores); a random suffix makes it unique.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    public async Task<string> CreateDatabaseAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var clean = new string([.. prefix.ToLowerInvariant().Where(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_').Take(24)]);

        // At most 3 + 24 + 1 + 32 = 60 characters, under PostgreSQL's 63-byte identifier limit.
        var name = $"pk_{clean}_{Guid.NewGuid():N}";
        var admin = new NpgsqlConnection(AdminConnectionString);
        await using (admin.ConfigureAwait(false))
        {
            await admin.OpenAsync(cancellationToken).ConfigureAwait(false);
#pragma warning disable CA2100 // The name is built above from [a-z0-9_] only.
            var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
#pragma warning restore CA2100
            await using (command.ConfigureAwait(false))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        _createdDatabases.Add(name);
        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Drops the databases created on an external server; stops a throwaway server and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        if (IsExternal)
        {
            await DropCreatedDatabasesAsync().ConfigureAwait(false);
            return;
        }

        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        await StopAsync().ConfigureAwait(false);
    }

    private static async Task<ThrowawayPostgres> StartClusterAsync(string bin, string root, bool asPostgres, CancellationToken cancellationToken)
    {
        var data = Path.Combine(root, "data");
        var sockets = Path.Combine(root, "sockets");
        Directory.CreateDirectory(sockets);
        if (asPostgres)
        {
            // The server refuses to run as root; the postgres user must own everything it touches.
            await RunAsync("chown", ["-R", "postgres:postgres", root], false, cancellationToken).ConfigureAwait(false);
        }

        await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"], asPostgres, cancellationToken)
            .ConfigureAwait(false);
        await File.AppendAllTextAsync(
            Path.Combine(data, "postgresql.conf"),
            $"""

            # Throwaway test cluster: durability traded for speed.
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '{sockets}'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 200
            """,
            cancellationToken).ConfigureAwait(false);

        var log = Path.Combine(root, "server.log");
        var failures = new StringBuilder();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            // Another process may take the port between probing and binding; a new port fixes that.
            var port = FreePort();
            try
            {
                await RunAsync(
                    Path.Combine(bin, "pg_ctl"),
                    ["-D", data, "-l", log, "-w", "-t", "60", "-o", "-p " + port.ToString(CultureInfo.InvariantCulture), "start"],
                    asPostgres,
                    cancellationToken).ConfigureAwait(false);
                var connectionString = new NpgsqlConnectionStringBuilder
                {
                    Host = "127.0.0.1",
                    Port = port,
                    Username = "postgres",
                    Database = "postgres",
                    Pooling = true,
                    MaxPoolSize = 100,
                }.ConnectionString;
                var server = new ThrowawayPostgres(connectionString, bin, root, asPostgres);
                await server.PingAsync(cancellationToken).ConfigureAwait(false);
                return server;
            }
            catch (PostgresUnavailableException ex)
            {
                failures.AppendLine(ex.Message);
            }
        }

        var tail = File.Exists(log) ? string.Join('\n', (await File.ReadAllLinesAsync(log, cancellationToken).ConfigureAwait(false)).TakeLast(20)) : "(no server log)";
        throw new PostgresUnavailableException($"PostgreSQL in {bin} did not start in {root}:\n{failures}\nServer log:\n{tail}");
    }

    private async Task PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            var connection = new NpgsqlConnection(AdminConnectionString);
            await using (connection.ConfigureAwait(false))
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (NpgsqlException ex)
        {
            throw new PostgresUnavailableException($"PostgreSQL at {new NpgsqlConnectionStringBuilder(AdminConnectionString) { Password = null }} cannot be reached: {ex.Message}", ex);
        }
    }

    private async Task DropCreatedDatabasesAsync()
    {
        var admin = new NpgsqlConnection(AdminConnectionString);
        await using (admin.ConfigureAwait(false))
        {
            await admin.OpenAsync().ConfigureAwait(false);
            foreach (var name in _createdDatabases)
            {
#pragma warning disable CA2100 // Names this instance created from [a-z0-9_] only.
                var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
#pragma warning restore CA2100
                await using (command.ConfigureAwait(false))
                {
                    await command.ExecuteNonQueryAsync().ConfigureAwait(false);
                }
            }
        }
    }

    private async Task StopAsync()
    {
        try
        {
            // Immediate: nothing in a throwaway cluster is worth a shutdown checkpoint.
            await RunAsync(Path.Combine(_binDirectory!, "pg_ctl"), ["-D", Path.Combine(_root!, "data"), "-m", "immediate", "-w", "stop"], _asPostgresUser, CancellationToken.None)
                .ConfigureAwait(false);
        }
        finally
        {
            TryDelete(_root!);
        }
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        // A test host killed without disposing fixtures must not leave a server running.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            StopAsync().GetAwaiter().GetResult();
        }
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> arguments, bool asPostgres, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres)
        {
            foreach (var argument in (string[])["-u", "postgres", "--", file])
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var commandLine = string.Join(' ', start.ArgumentList.Prepend(start.FileName));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new PostgresUnavailableException($"'{commandLine}' did not start.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new PostgresUnavailableException($"'{commandLine}' cannot run: {ex.Message}", ex);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                await Task.WhenAll(output, error).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                throw new PostgresUnavailableException($"'{commandLine}' did not finish within {CommandTimeout.TotalSeconds} s.");
            }

            if (process.ExitCode != 0)
            {
                throw new PostgresUnavailableException(
                    $"'{commandLine}' exited with {process.ExitCode}:\n{await output.ConfigureAwait(false)}{await error.ConfigureAwait(false)}");
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool IsRoot() => OperatingSystem.IsLinux() && Environment.UserName == "root";

    private static void TryDelete(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }
}

/// <summary>PostgreSQL could not be found, started or reached for tests.</summary>
public sealed class PostgresUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PostgresUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public PostgresUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public PostgresUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
