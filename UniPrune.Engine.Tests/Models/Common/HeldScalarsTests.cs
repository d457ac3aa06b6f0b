using System.Collections.Immutable;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using TorchSharp;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Common;

/// <summary>
/// Guards the fix for the intermittent libtorch "toFloat ... Expected false to be true": a TorchSharp Scalar that nothing
/// keeps alive can be finalised while libtorch reads it. A stress test would pass 99.99 % of the time even on broken
/// code (one failure in ~10^5 adds), so this reads the compiled IL instead: deterministic and well under a second.
/// </summary>
public sealed class HeldScalarsTests
{
    [Fact]
    public void Engine_never_hands_libtorch_a_scalar_it_does_not_hold()
    {
        var violations = UnheldScalarScan.Violations(typeof(HeldScalars).Assembly.Location);
        Assert.True(violations.Count == 0,
            "Tensor ops that create a Scalar nothing holds (use HeldScalars: a.Plus(b), x.Times(s), HeldScalars.Arange(n, ...), "
            + "or a static/using Scalar):\n" + string.Join("\n", violations));
    }

    [Fact]
    public void Scan_catches_the_unheld_forms()
    {
        // Negative control: the scan must flag each of these forms in this test assembly, or the test above proves nothing.
        var flagged = UnheldScalarScan.Violations(typeof(HeldScalarsTests).Assembly.Location)
            .Where(v => v.Contains(nameof(UnheldExamples))).ToList();
        foreach (var method in new[] { nameof(UnheldExamples.TensorPlusTensor), nameof(UnheldExamples.TensorTimesNumber),
                     nameof(UnheldExamples.ImplicitArgument), nameof(UnheldExamples.ArangeOfCount), nameof(UnheldExamples.LocalWithoutUsing) })
            Assert.Contains(flagged, v => v.Contains("::" + method + " "));
        Assert.DoesNotContain(flagged, v => v.Contains("::" + nameof(UnheldExamples.HeldForms) + " "));
    }

    [Fact]
    public void Helpers_match_the_operators_they_replace_bit_for_bit()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var a = randn([4, 5], generator: generator);
        var b = randn([4, 5], generator: generator);
        Assert.True(Same(a.Plus(b), a + b));
        Assert.True(Same(a.Plus(1e-5), a + 1e-5));
        Assert.True(Same(a.Times(0.125), a * 0.125));
        Assert.True(Same(a.DividedBy(3), a / 3));
        Assert.True(Same(a.SubtractedFrom(1.0f), 1.0f - a));
        Assert.True(Same(HeldScalars.Arange(0, 10, 2, ScalarType.Int64), arange(0, 10, 2, dtype: ScalarType.Int64)));
        Assert.True(Same(HeldScalars.Full(2, 3, 7L, ScalarType.Int64), full(2, 3, 7L, dtype: ScalarType.Int64)));
        Assert.True(Same(a.AtLeast(0.25), a >= 0.25));
    }

    // Same dtype, same shape, every element equal (TorchSharp's equal is element-wise).
    private static bool Same(Tensor x, Tensor y) =>
        x.dtype == y.dtype && x.shape.SequenceEqual(y.shape) && x.equal(y).all().item<bool>();
}

/// <summary>Deliberately unheld forms, scanned (never run) by <see cref="HeldScalarsTests.Scan_catches_the_unheld_forms"/>.</summary>
internal static class UnheldExamples
{
    public static Tensor TensorPlusTensor(Tensor a, Tensor b) => a + b;
    public static Tensor TensorTimesNumber(Tensor a) => a * 0.5;
    public static Tensor ImplicitArgument(Tensor a) => a.masked_fill(a.isnan(), 0.0);
    public static Tensor ArangeOfCount(long n) => arange(n, dtype: ScalarType.Int64);
    public static Tensor LocalWithoutUsing(Tensor a)
    {
        Scalar scale = 2.0;
        return a.mul(scale);
    }
    public static Tensor HeldForms(Tensor a, Tensor b)
    {
        using Scalar scale = 2.0;
        return a.Plus(b).mul(scale).mul(HeldScalars.Two).Times(0.5);
    }
}

/// <summary>
/// Finds, in a compiled assembly, every call that makes a TorchSharp Scalar nothing keeps alive: a TorchSharp method
/// that builds one internally without disposing it (found from TorchSharp's own IL, transitively: a + b, add(b),
/// a * 0.5, arange(n), ...), or a number converted to a Scalar in the caller that is not stored in a field or in a
/// local the method disposes (a 'using').
/// </summary>
internal static class UnheldScalarScan
{
    public static List<string> Violations(string assemblyPath)
    {
        var hidden = TorchSharpMethodsMakingUnheldScalars();
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var reader = pe.GetMetadataReader();
        var found = new List<string>();
        foreach (var handle in reader.MethodDefinitions)
        {
            var method = reader.GetMethodDefinition(handle);
            if (method.RelativeVirtualAddress == 0) continue;
            var calls = Calls(reader, pe.GetMethodBody(method.RelativeVirtualAddress)).ToList();
            bool disposes = calls.Any(c => c.Callee.EndsWith("::Dispose()"));
            string where = $"{MethodName(reader, handle)} ";
            foreach (var call in calls)
            {
                if (MakesScalar(call.Callee))
                {
                    if (!(call.NextIsFieldStore || (call.NextIsLocalStore && disposes)))
                        found.Add($"{where}(IL_{call.Offset:x4}) passes a temporary {call.Callee}");
                }
                else if (hidden.Contains(call.Callee))
                    found.Add($"{where}(IL_{call.Offset:x4}) calls {call.Callee}");
            }
        }
        return found;
    }

    private static bool MakesScalar(string callee) =>
        callee.StartsWith("Scalar::op_Implicit(") || callee.Contains("::ToScalar(");

    private static HashSet<string> TorchSharpMethodsMakingUnheldScalars()
    {
        using var pe = new PEReader(File.OpenRead(typeof(torch).Assembly.Location));
        var reader = pe.GetMetadataReader();
        var callees = new Dictionary<string, List<string>>();
        foreach (var handle in reader.MethodDefinitions)
        {
            var method = reader.GetMethodDefinition(handle);
            var list = callees[Key(reader, handle)!] = [];
            if (method.RelativeVirtualAddress != 0)
                list.AddRange(Calls(reader, pe.GetMethodBody(method.RelativeVirtualAddress)).Select(c => c.Callee));
        }
        var hidden = callees.Where(kv => kv.Value.Any(MakesScalar) && !kv.Value.Any(c => c.EndsWith("::Dispose()")))
            .Select(kv => kv.Key).ToHashSet();
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (method, calls) in callees)
                if (!hidden.Contains(method) && calls.Any(hidden.Contains)) grew = hidden.Add(method) | grew;
        }
        return hidden;
    }

    private readonly record struct Call(int Offset, string Callee, bool NextIsFieldStore, bool NextIsLocalStore);

    private static IEnumerable<Call> Calls(MetadataReader reader, MethodBodyBlock body)
    {
        var il = body.GetILReader();
        Call? pending = null;
        while (il.RemainingBytes > 0)
        {
            int offset = il.Offset;
            int opcode = il.ReadByte();
            if (opcode == 0xFE) opcode = 0xFE00 | il.ReadByte();
            if (pending is { } p)
            {
                yield return p with
                {
                    NextIsFieldStore = opcode is 0x7D or 0x80,                                  // stfld, stsfld
                    NextIsLocalStore = opcode is >= 0x0A and <= 0x0D or 0x13 or 0xFE0E,         // stloc.0-3, stloc.s, stloc
                };
                pending = null;
            }
            if (opcode is 0x28 or 0x6F or 0x73)                                                 // call, callvirt, newobj
            {
                var callee = Key(reader, MetadataTokens.EntityHandle(il.ReadInt32()));
                if (callee is not null) pending = new Call(offset, callee, false, false);
            }
            else if (opcode == 0x45) il.Offset += 4 * il.ReadInt32();                          // switch
            else il.Offset += OperandSize(opcode);
        }
        if (pending is { } last) yield return last;
    }

    private static int OperandSize(int opcode) => opcode switch
    {
        0xFE09 or 0xFE0A or 0xFE0B or 0xFE0C or 0xFE0D or 0xFE0E => 2,
        0xFE06 or 0xFE07 or 0xFE15 or 0xFE16 or 0xFE1C or 0xFE1D => 4,
        0xFE12 or 0xFE19 => 1,
        >= 0xFE00 => 0,
        0x0E or 0x0F or 0x10 or 0x11 or 0x12 or 0x13 or 0x1F or 0xDE or (>= 0x2B and <= 0x37) => 1,
        0x21 or 0x23 => 8,
        0x20 or 0x22 or 0x27 or 0x28 or 0x29 or (>= 0x38 and <= 0x44) or 0x6F or (>= 0x70 and <= 0x75) or 0x79
            or (>= 0x7B and <= 0x81) or 0x8C or 0x8D or 0x8F or (>= 0xA3 and <= 0xA5) or 0xC2 or 0xC6 or 0xD0 or 0xDD => 4,
        _ => 0,
    };

    private static string MethodName(MetadataReader reader, MethodDefinitionHandle handle)
    {
        var method = reader.GetMethodDefinition(handle);
        var type = reader.GetTypeDefinition(method.GetDeclaringType());
        return $"{reader.GetString(type.Namespace)}.{reader.GetString(type.Name)}::{reader.GetString(method.Name)}";
    }

    private static string? Key(MetadataReader reader, EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.MethodDefinition:
            {
                var method = reader.GetMethodDefinition((MethodDefinitionHandle)handle);
                return Key(TypeName(reader, method.GetDeclaringType()), reader.GetString(method.Name), method.DecodeSignature(Names.Instance, null));
            }
            case HandleKind.MemberReference:
            {
                var member = reader.GetMemberReference((MemberReferenceHandle)handle);
                if (member.GetKind() != MemberReferenceKind.Method) return null;
                return Key(TypeName(reader, member.Parent), reader.GetString(member.Name), member.DecodeMethodSignature(Names.Instance, null));
            }
            case HandleKind.MethodSpecification:
                return Key(reader, reader.GetMethodSpecification((MethodSpecificationHandle)handle).Method);
            default:
                return null;
        }
    }

    private static string Key(string type, string name, MethodSignature<string> signature) =>
        $"{type}::{name}({string.Join(",", signature.ParameterTypes)})";

    private static string TypeName(MetadataReader reader, EntityHandle handle) => handle.Kind switch
    {
        HandleKind.TypeDefinition => reader.GetString(reader.GetTypeDefinition((TypeDefinitionHandle)handle).Name),
        HandleKind.TypeReference => reader.GetString(reader.GetTypeReference((TypeReferenceHandle)handle).Name),
        HandleKind.TypeSpecification => reader.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(Names.Instance, null).Split('<')[0],
        _ => "?",
    };

    /// <summary>Short type names: enough to match a call site's reference against TorchSharp's definition.</summary>
    private sealed class Names : ISignatureTypeProvider<string, object?>
    {
        public static readonly Names Instance = new();
        public string GetArrayType(string element, ArrayShape shape) => element + "[,]";
        public string GetByReferenceType(string element) => element + "&";
        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
        public string GetGenericInstantiation(string generic, ImmutableArray<string> args) => $"{generic}<{string.Join(",", args)}>";
        public string GetGenericMethodParameter(object? context, int index) => "!!" + index;
        public string GetGenericTypeParameter(object? context, int index) => "!" + index;
        public string GetModifiedType(string modifier, string unmodified, bool isRequired) => unmodified;
        public string GetPinnedType(string element) => element;
        public string GetPointerType(string element) => element + "*";
        public string GetPrimitiveType(PrimitiveTypeCode code) => code.ToString();
        public string GetSZArrayType(string element) => element + "[]";
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte kind) =>
            reader.GetString(reader.GetTypeDefinition(handle).Name);
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte kind) =>
            reader.GetString(reader.GetTypeReference(handle).Name);
        public string GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte kind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, context);
    }
}
