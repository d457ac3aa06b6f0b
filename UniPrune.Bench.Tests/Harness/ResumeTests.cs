using UniPrune.Engine.Reporting;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Harness;

/// <summary>An interrupted matrix resumes and loses nothing: finished samples are reused, the rest computed, the result equal.</summary>
public sealed class ResumeTests
{
    [Fact]
    public void A_crash_after_N_samples_then_a_rerun_recomputes_only_the_rest_and_equals_an_uninterrupted_run()
    {
        using var interrupted = new TempBench();
        using var clean = new TempBench();
        var cell = interrupted.Manifest.Cell("toy/YN/Keep@11.1");
        double retention = interrupted.Manifest.Retention(cell.Ratio);
        var store = new RunStore(interrupted.Environment.ResultsRoot);

        var crashing = new ToyWorkload(cell, retention) { CrashAfter = 5 };
        Assert.Throws<IOException>(() => CellRunner.Run(crashing, store));
        Assert.Equal(5, File.ReadAllLines(store.SamplesPath(cell)).Length);
        Assert.False(File.Exists(store.ResultPath(cell)));

        var resumed = new ToyWorkload(cell, retention);
        var outcome = CellRunner.Run(resumed, new RunStore(interrupted.Environment.ResultsRoot));
        Assert.Equal(crashing.RunCalls.Concat(resumed.RunCalls), resumed.Items.Select(i => i.Id)); // each sample ran exactly once
        Assert.DoesNotContain("0", resumed.RunCalls);
        Assert.Equal((5, 7), (outcome.Reused, outcome.Computed));

        var uninterrupted = CellRunner.Run(new ToyWorkload(cell, retention), new RunStore(clean.Environment.ResultsRoot));
        Assert.Equal(CanonicalJson.Serialize(CellSnapshot.Build(uninterrupted)), CanonicalJson.Serialize(CellSnapshot.Build(outcome)));
        Assert.Equal(uninterrupted.Samples.Select(s => (s.Id, s.Prediction, s.Score, s.KeptTokens)), outcome.Samples.Select(s => (s.Id, s.Prediction, s.Score, s.KeptTokens)));
        Assert.True(File.Exists(store.ResultPath(cell)));
    }

    [Fact]
    public void A_torn_last_line_is_recomputed_and_the_file_stays_one_record_per_line()
    {
        using var bench = new TempBench();
        var cell = bench.Manifest.Cell("toy/YN/Keep@33.3");
        var store = new RunStore(bench.Environment.ResultsRoot);
        Assert.Throws<IOException>(() => CellRunner.Run(new ToyWorkload(cell, 1.0 / 3) { CrashAfter = 3 }, store));
        File.AppendAllText(store.SamplesPath(cell), "{\"id\":\"3\",\"predic"); // the process died mid-write
        var resumed = new ToyWorkload(cell, 1.0 / 3);
        var outcome = CellRunner.Run(resumed, store);
        Assert.Equal(3, outcome.Reused);
        Assert.Equal("3", resumed.RunCalls[0]);
        Assert.Equal(12, File.ReadAllLines(store.SamplesPath(cell)).Length);
    }

    [Fact]
    public void A_different_fingerprint_discards_finished_samples()
    {
        using var bench = new TempBench();
        var cell = bench.Manifest.Cell("toy/YN/Keep@33.3");
        var store = new RunStore(bench.Environment.ResultsRoot);
        CellRunner.Run(new ToyWorkload(cell, 1.0 / 3), store);
        var changed = new ToyWorkload(cell, 1.0 / 3) { KeptOffset = 2 };
        var outcome = CellRunner.Run(changed, store);
        Assert.Equal((0, 12), (outcome.Reused, outcome.Computed));
    }

    [Fact]
    public void Results_are_written_as_JSON_and_per_sample_JSONL_with_the_documented_fields()
    {
        using var bench = new TempBench();
        var cell = bench.Manifest.Cell("toy/YN/Keep@33.3");
        var store = new RunStore(bench.Environment.ResultsRoot);
        CellRunner.Run(new ToyWorkload(cell, 1.0 / 3), store, new RunOptions(WarmupSamples: 2));
        var first = (IDictionary<string, object?>)CanonicalJson.Parse(File.ReadAllLines(store.SamplesPath(cell))[0], "jsonl")!;
        Assert.Equal(["id", "keptTokens", "prediction", "promptHash", "promptTokens", "score", "timings", "visualTokens", "warmup"], first.Keys.ToArray());
        Assert.Equal(true, first["warmup"]);
        var result = (IDictionary<string, object?>)CanonicalJson.Parse(File.ReadAllText(store.ResultPath(cell)), "result")!;
        var timing = (IDictionary<string, object?>)result["timing"]!;
        Assert.Equal(10L, timing["measuredSamples"]);
        Assert.Equal(2L, timing["warmupExcluded"]);
        Assert.Empty(Directory.EnumerateFiles(bench.Environment.ResultsRoot, "*.tmp", SearchOption.AllDirectories));
    }
}
