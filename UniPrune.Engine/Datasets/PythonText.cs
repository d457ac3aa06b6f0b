using System.Globalization;
using System.Numerics;
using System.Text;

namespace UniPrune.Engine.Datasets;

/// <summary>
/// The few CPython string and number conventions VLMEvalKit's scoring depends on: <c>str.split()</c> whitespace,
/// <c>repr(float)</c>, <c>int(s)</c> and <c>float(s)</c> parsing. Scores only match when these match.
/// </summary>
public static class PythonText
{
    /// <summary>CPython's <c>str.isspace</c>: .NET's white space plus the four ASCII separators U+001C..U+001F.</summary>
    public static bool IsWhitespace(char c) => char.IsWhiteSpace(c) || (c >= '\u001c' && c <= '\u001f');

    /// <summary><c>s.split()</c> with no argument: runs of white space separate, empty pieces are dropped.</summary>
    public static List<string> SplitWhitespace(string text)
    {
        var parts = new List<string>();
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool space = i == text.Length || IsWhitespace(text[i]);
            if (space) { if (start >= 0) { parts.Add(text[start..i]); start = -1; } }
            else if (start < 0) start = i;
        }
        return parts;
    }

    /// <summary><c>s.strip()</c> with no argument.</summary>
    public static string Strip(string text)
    {
        int start = 0, end = text.Length;
        while (start < end && IsWhitespace(text[start])) start++;
        while (end > start && IsWhitespace(text[end - 1])) end--;
        return text[start..end];
    }

    /// <summary>
    /// <c>str.lower()</c>. Invariant lower-casing agrees with CPython for every character our datasets contain;
    /// the rare characters whose Python lower case is two code points (U+0130) are mapped as Python does.
    /// </summary>
    public static string Lower(string text) =>
        text.Contains('\u0130') ? text.Replace("\u0130", "i\u0307").ToLowerInvariant() : text.ToLowerInvariant();

    /// <summary><c>repr(x)</c> / <c>str(x)</c> of a Python float: shortest round-trip digits, '.0' on integral values, exponent outside [1e-4, 1e16).</summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";
        // Shortest round-trip digits: "R" gives them, but its layout varies; re-derive digits and exponent from it.
        string shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        string mantissa = shortest, exponentText = "0";
        int e = shortest.IndexOfAny(['E', 'e']);
        if (e >= 0) { mantissa = shortest[..e]; exponentText = shortest[(e + 1)..]; }
        int exponent = int.Parse(exponentText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int pointAt = (dot < 0 ? mantissa.Length : dot) + exponent; // value = 0.DIGITS × 10^pointAt after trimming
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') { lead++; pointAt--; }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (value < 0) sb.Append('-');
        if (pointAt > 16 || pointAt <= -4)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int sciExponent = pointAt - 1;
            sb.Append('e').Append(sciExponent < 0 ? '-' : '+').Append(Math.Abs(sciExponent).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (pointAt <= 0)
            sb.Append("0.").Append('0', -pointAt).Append(digits);
        else if (pointAt >= digits.Length)
            sb.Append(digits).Append('0', pointAt - digits.Length).Append(".0");
        else
            sb.Append(digits, 0, pointAt).Append('.').Append(digits, pointAt, digits.Length - pointAt);
        return sb.ToString();
    }

    /// <summary>
    /// CPython <c>int(s)</c> for a string: optional surrounding white space, optional sign, decimal digits with single
    /// underscores between them. Returns false where Python raises ValueError.
    /// </summary>
    public static bool TryParseInt(string text, out BigInteger value)
    {
        value = default;
        string s = Strip(text);
        int i = 0;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) { negative = s[i] == '-'; i++; }
        if (i >= s.Length) return false;
        var digits = new StringBuilder();
        bool lastWasDigit = false;
        for (; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '_') { if (!lastWasDigit || i + 1 >= s.Length || !char.IsDigit(s[i + 1])) return false; lastWasDigit = false; continue; }
            if (!char.IsDigit(c)) return false;
            digits.Append((char)('0' + (int)char.GetNumericValue(c)));
            lastWasDigit = true;
        }
        value = BigInteger.Parse(digits.ToString(), CultureInfo.InvariantCulture);
        if (negative) value = -value;
        return true;
    }

    /// <summary>CPython <c>float(s)</c> for a string: decimal/exponent forms, inf/infinity/nan in any case, underscores between digits.</summary>
    public static bool TryParseFloat(string text, out double value)
    {
        value = default;
        string s = Strip(text);
        if (s.Length == 0) return false;
        string body = s.TrimStart('+', '-');
        if (s.Length - body.Length > 1) return false;
        bool negative = s.StartsWith('-');
        string lower = body.ToLowerInvariant();
        if (lower is "inf" or "infinity") { value = negative ? double.NegativeInfinity : double.PositiveInfinity; return true; }
        if (lower == "nan") { value = double.NaN; return true; }
        if (!IsDecimalLiteral(body.Replace("_", ""), allowUnderscoreCheck: body)) return false;
        value = double.Parse(body.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture);
        if (negative) value = -value;
        return true;
    }

    private static bool IsDecimalLiteral(string s, string allowUnderscoreCheck)
    {
        // Underscores must sit between two digits.
        for (int k = 0; k < allowUnderscoreCheck.Length; k++)
            if (allowUnderscoreCheck[k] == '_' && (k == 0 || k + 1 >= allowUnderscoreCheck.Length
                || !char.IsAsciiDigit(allowUnderscoreCheck[k - 1]) || !char.IsAsciiDigit(allowUnderscoreCheck[k + 1])))
                return false;
        int i = 0, intDigits = 0, fracDigits = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i])) { i++; intDigits++; }
        if (i < s.Length && s[i] == '.') { i++; while (i < s.Length && char.IsAsciiDigit(s[i])) { i++; fracDigits++; } }
        if (intDigits + fracDigits == 0) return false;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
            int expDigits = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i])) { i++; expDigits++; }
            if (expDigits == 0) return false;
        }
        return i == s.Length;
    }

    /// <summary>
    /// VLMEvalKit's <c>istype(x, int)</c> on a string: true when Python's <c>eval</c> of it gives an int. For the
    /// index texts that reach it this is an optionally signed decimal literal without leading zeros.
    /// </summary>
    public static bool EvaluatesToInt(string text)
    {
        string s = text.Trim(' ', '\t');
        if (s.StartsWith('-') || s.StartsWith('+')) s = s[1..].TrimStart(' ', '\t');
        if (s.Length == 0) return false;
        if (s.Replace("_", "").All(c => c == '0')) return s.All(c => c == '0' || c == '_') && !s.StartsWith('_') && !s.EndsWith('_');
        if (s[0] == '0' || !char.IsAsciiDigit(s[0])) return false;
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsAsciiDigit(s[i])) continue;
            if (s[i] == '_' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]) && char.IsAsciiDigit(s[i - 1])) continue;
            return false;
        }
        return true;
    }
}
