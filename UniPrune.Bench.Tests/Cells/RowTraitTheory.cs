using System.ComponentModel;
using System.Globalization;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace UniPrune.Bench.Tests.Cells;

/// <summary>
/// A theory whose every data row is its own test case carrying one trait per parameter (parameter "method" → trait "Method"),
/// so <c>dotnet test --filter Method=DivPrune</c> selects rows, not whole theories (xunit 2.9 has no per-row traits:
/// toolchain.md §6). A row's display name is its first argument when the method's first parameter is named "cell".
/// Rows may call <c>Skip.If</c> (Xunit.SkippableFact) to report Skipped with a reason.
/// </summary>
[XunitTestCaseDiscoverer("UniPrune.Bench.Tests.Cells.RowTraitTheoryDiscoverer", "UniPrune.Bench.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class RowTraitTheoryAttribute : TheoryAttribute;

public sealed class RowTraitTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    protected override IEnumerable<IXunitTestCase> CreateTestCasesForDataRow(ITestFrameworkDiscoveryOptions discoveryOptions,
        ITestMethod testMethod, IAttributeInfo theoryAttribute, object[] dataRow) =>
        [new RowTraitTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, dataRow)];

    protected override IEnumerable<IXunitTestCase> CreateTestCasesForSkippedDataRow(ITestFrameworkDiscoveryOptions discoveryOptions,
        ITestMethod testMethod, IAttributeInfo theoryAttribute, object[] dataRow, string skipReason) =>
        [new RowTraitTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, dataRow, skipReason)];
}

public sealed class RowTraitTestCase : SkippableFactTestCase
{
    private string? _staticSkipReason;

    [EditorBrowsable(EditorBrowsableState.Never)]
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes", true)]
    public RowTraitTestCase() { }

    public RowTraitTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions,
        ITestMethod testMethod, object[] dataRow, string? skipReason = null)
        : base([typeof(Xunit.SkipException).FullName!], diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod, dataRow)
    {
        _staticSkipReason = skipReason;
    }

    // Traits are recomputed here (not stored) so they survive VSTest's discovery → execution round trip.
    protected override void Initialize()
    {
        base.Initialize();
        var parameters = TestMethod.Method.GetParameters().ToArray();
        var arguments = TestMethodArguments ?? [];
        for (int i = 0; i < Math.Min(parameters.Length, arguments.Length); i++)
        {
            var name = parameters[i].Name;
            if (string.IsNullOrEmpty(name)) continue;
            var trait = char.ToUpperInvariant(name[0]) + name[1..];
            if (!Traits.TryGetValue(trait, out var values)) Traits[trait] = values = [];
            values.Add(Convert.ToString(arguments[i], CultureInfo.InvariantCulture) ?? "");
        }
    }

    protected override string GetDisplayName(IAttributeInfo factAttribute, string displayName)
    {
        var parameters = TestMethod.Method.GetParameters().ToArray();
        if (parameters.Length > 0 && parameters[0].Name == "cell" && TestMethodArguments is { Length: > 0 } && TestMethodArguments[0] is string id)
            return id;
        return base.GetDisplayName(factAttribute, displayName);
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _staticSkipReason ?? base.GetSkipReason(factAttribute);

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("StaticSkipReason", _staticSkipReason);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        base.Deserialize(data);
        _staticSkipReason = data.GetValue<string>("StaticSkipReason");
    }
}
