namespace PaymentsKit.Testing;

/// <summary>The repository checkout the tests run from.</summary>
public static class Repository
{
    /// <summary>The folder holding PaymentsKit.sln, found above the test assembly.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "PaymentsKit.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No PaymentsKit.sln above {AppContext.BaseDirectory}.");
    }
}
