using FsCheck;
using FsCheck.Fluent;

namespace PaymentsKit.Tests;

/// <summary>
/// The one shape of every module's tenant isolation property: three tenants (actors 0–2) taking random steps, each step
/// drawn by weight, with a number (0–1000) the step uses to pick what it names.
/// </summary>
internal static class TenancyProperty
{
    /// <summary>Runs <paramref name="run"/> over <paramref name="iterations"/> random step lists of up to 30 steps, throwing on the first failure.</summary>
    /// <param name="iterations">How many step lists to try.</param>
    /// <param name="run">Plays one list of steps against fresh tenants, asserting as it goes.</param>
    /// <param name="steps">Each step the property may take, with its weight.</param>
    public static void Check<TStep>(int iterations, Func<List<(int Actor, TStep Step, int Pick)>, Task> run, params (int Weight, TStep Step)[] steps)
    {
        var step = Gen.Frequency(steps.Select(s => (s.Weight, Gen.Constant(s.Step))).ToArray());
        var gen = Gen.ListOf(
            from actor in Gen.Choose(0, 2)
            from chosen in step
            from pick in Gen.Choose(0, 1000)
            select (actor, chosen, pick));
        Prop.ForAll(Arb.From(gen), list => Task.Run(() => run(list)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(iterations).WithStartSize(4).WithEndSize(30));
    }
}
