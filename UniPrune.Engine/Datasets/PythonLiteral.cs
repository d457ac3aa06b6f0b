using System.Globalization;
using System.Numerics;
using System.Text;

namespace UniPrune.Engine.Datasets;

/// <summary>Raised when a cell that VLMEvalKit passes to Python's <c>eval</c> is not a literal we can read.</summary>
public sealed class PythonLiteralException(string message) : Exception(message);

/// <summary>
/// Reads the Python literals VLMEvalKit stores in TSV cells and evaluates with <c>eval</c>: lists and tuples of
/// strings (single, double or triple quoted, with escapes and r/u prefixes, adjacent literals concatenated),
/// integers, floats, True/False/None. Values come back as string, BigInteger, double, bool, null or
/// <see cref="List{T}"/> of values.
/// </summary>
public static class PythonLiteral
{
    public static object? Parse(string text)
    {
        var parser = new Parser(text);
        parser.SkipSpace();
        object? value = parser.ParseValue();
        parser.SkipSpace();
        if (!parser.AtEnd) throw parser.Error("unexpected text after the literal");
        return value;
    }

    /// <summary>Parses a list (or tuple) literal and converts every element with Python's <c>str()</c>.</summary>
    public static List<string> ParseStringList(string text)
    {
        if (Parse(text) is not List<object?> items) throw new PythonLiteralException($"expected a list literal such as ['a', 'b'], got: {Abbreviate(text)}");
        return items.Select(Str).ToList();
    }

    /// <summary>Python's <c>str()</c> of a parsed literal value.</summary>
    public static string Str(object? value) => value switch
    {
        null => "None",
        string s => s,
        bool b => b ? "True" : "False",
        BigInteger i => i.ToString(CultureInfo.InvariantCulture),
        double d => PythonText.FloatRepr(d),
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        _ => throw new ArgumentException($"not a Python literal value: {value.GetType().Name}"),
    };

    private static string Repr(object? value) => value is string s
        ? (s.Contains('\'') && !s.Contains('"') ? "\"" + s.Replace("\\", "\\\\") + "\"" : "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'")
        : Str(value);

    internal static string Abbreviate(string text) => text.Length <= 80 ? text : text[..77] + "...";

    private sealed class Parser(string text)
    {
        private int _at;
        public bool AtEnd => _at >= text.Length;

        public PythonLiteralException Error(string problem) =>
            new($"{problem} at character {_at} of the literal: {Abbreviate(text)}");

        public void SkipSpace() { while (_at < text.Length && PythonText.IsWhitespace(text[_at])) _at++; }

        public object? ParseValue()
        {
            SkipSpace();
            if (AtEnd) throw Error("unexpected end");
            char c = text[_at];
            if (c == '[') return ParseSequence('[', ']');
            if (c == '(') return ParseSequence('(', ')');
            if (c == '\'' || c == '"' || IsStringPrefix()) return ParseStrings();
            if (c == '-' || c == '+' || c == '.' || char.IsAsciiDigit(c)) return ParseNumber();
            foreach (var (word, value) in new (string, object?)[] { ("None", null), ("True", true), ("False", false) })
                if (string.CompareOrdinal(text, _at, word, 0, word.Length) == 0 && !IsNameChar(_at + word.Length)) { _at += word.Length; return value; }
            throw Error("expected a string, number, list, True, False or None");
        }

        private bool IsNameChar(int position) => position < text.Length && (char.IsLetterOrDigit(text[position]) || text[position] == '_');

        private bool IsStringPrefix()
        {
            int i = _at;
            while (i < text.Length && i - _at < 2 && "rRuU".Contains(text[i])) i++;
            return i > _at && i < text.Length && (text[i] == '\'' || text[i] == '"');
        }

        private List<object?> ParseSequence(char open, char close)
        {
            _at++; // open
            var items = new List<object?>();
            SkipSpace();
            if (!AtEnd && text[_at] == close) { _at++; return items; }
            while (true)
            {
                items.Add(ParseValue());
                SkipSpace();
                if (AtEnd) throw Error($"missing '{close}'");
                if (text[_at] == ',')
                {
                    _at++;
                    SkipSpace();
                    if (!AtEnd && text[_at] == close) { _at++; return items; }
                    continue;
                }
                if (text[_at] == close) { _at++; return items; }
                throw Error($"expected ',' or '{close}'");
            }
        }

        private string ParseStrings()
        {
            var sb = new StringBuilder();
            do { sb.Append(ParseOneString()); SkipSpace(); }
            while (!AtEnd && (text[_at] == '\'' || text[_at] == '"' || IsStringPrefix()));
            return sb.ToString();
        }

        private string ParseOneString()
        {
            bool raw = false;
            while ("rRuU".Contains(text[_at])) { raw |= text[_at] is 'r' or 'R'; _at++; }
            char quote = text[_at];
            bool triple = _at + 2 < text.Length && text[_at + 1] == quote && text[_at + 2] == quote;
            _at += triple ? 3 : 1;
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd) throw Error("unterminated string");
                char c = text[_at];
                if (c == quote && (!triple || (_at + 2 < text.Length && text[_at + 1] == quote && text[_at + 2] == quote)))
                {
                    _at += triple ? 3 : 1;
                    return sb.ToString();
                }
                if (!triple && c == '\n') throw Error("line break inside a single-quoted string");
                if (c != '\\') { sb.Append(c); _at++; continue; }
                if (_at + 1 >= text.Length) throw Error("unterminated escape");
                char e = text[_at + 1];
                if (raw) { sb.Append('\\').Append(e); _at += 2; continue; }
                _at += 2;
                switch (e)
                {
                    case '\n': break;
                    case '\\': sb.Append('\\'); break;
                    case '\'': sb.Append('\''); break;
                    case '"': sb.Append('"'); break;
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'v': sb.Append('\v'); break;
                    case 'x': sb.Append(char.ConvertFromUtf32(ReadHex(2))); break;
                    case 'u': sb.Append(char.ConvertFromUtf32(ReadHex(4))); break;
                    case 'U': sb.Append(char.ConvertFromUtf32(ReadHex(8))); break;
                    case >= '0' and <= '7':
                        int octal = e - '0';
                        for (int k = 0; k < 2 && _at < text.Length && text[_at] is >= '0' and <= '7'; k++) octal = octal * 8 + (text[_at++] - '0');
                        sb.Append((char)octal);
                        break;
                    default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes verbatim
                }
            }
        }

        private int ReadHex(int count)
        {
            if (_at + count > text.Length) throw Error("truncated escape");
            string hex = text.Substring(_at, count);
            if (!int.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int code)) throw Error($"bad escape digits '{hex}'");
            _at += count;
            return code;
        }

        private object ParseNumber()
        {
            int start = _at;
            int sign = 1;
            while (!AtEnd && (text[_at] == '-' || text[_at] == '+')) { if (text[_at] == '-') sign = -sign; _at++; SkipSpace(); }
            int bodyStart = _at;
            while (!AtEnd && (char.IsAsciiDigit(text[_at]) || "._eE".Contains(text[_at])
                   || ((text[_at] == '-' || text[_at] == '+') && (text[_at - 1] == 'e' || text[_at - 1] == 'E')))) _at++;
            string body = text[bodyStart.._at];
            if (PythonText.EvaluatesToInt(body) && PythonText.TryParseInt(body, out var integer)) return sign * integer;
            if (body.Length > 0 && !body.Contains("inf", StringComparison.OrdinalIgnoreCase) && PythonText.TryParseFloat(body, out double number)) return sign * number;
            _at = start;
            throw Error($"bad number '{body}'");
        }
    }
}
