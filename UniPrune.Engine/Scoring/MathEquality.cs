using System.Text;
using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Scoring;

/// <summary>
/// MathVision's <c>is_equal(answer, truth)</c>: lower-case and strip both; equal strings; else both evaluate as
/// numeric Python expressions within 1e-6; else both convert from LaTeX and evaluate within 1e-6.
/// Python's <c>eval</c> is replaced by a safe evaluator of numeric expressions (+ - * / // % ** ^ and parentheses;
/// ^ is XOR on integers as in Python), and latex2sympy by a small LaTeX→expression converter (\frac, \dfrac, \tfrac,
/// \sqrt[n]{}, ^{}, \pi, \cdot, \times, \div, \left/\right, implicit products such as 2\sqrt{3}).
/// Gaps: symbolic answers with variables (sympy would prove x+1 = 1+x), units, degrees, percentages and
/// sets/intervals are not equal unless their strings are.
/// </summary>
public static class MathEquality
{
    public static bool IsEqual(string answer, string truth)
    {
        string a = PythonText.Strip(PythonText.Lower(answer));
        string t = PythonText.Strip(PythonText.Lower(truth));
        if (a == t) return true;
        if (TryEvaluatePython(t, out double tv) && TryEvaluatePython(a, out double av) && Math.Abs(tv - av) < 1e-6) return true;
        if (TryEvaluateLatex(t, out double tl) && TryEvaluateLatex(a, out double al) && Math.Abs(tl - al) < 1e-6) return true;
        return false;
    }

    /// <summary>Python <c>eval</c> restricted to numeric literals and arithmetic; false wherever Python would raise or give a non-number.</summary>
    public static bool TryEvaluatePython(string expression, out double value)
    {
        value = double.NaN;
        try
        {
            var parser = new ExpressionParser(expression, latex: false);
            var result = parser.ParseAll();
            value = result.Value;
            return !double.IsNaN(value);
        }
        catch (FormatException) { return false; }
        catch (DivideByZeroException) { return false; }
    }

    /// <summary>Numeric value of a LaTeX math answer (the subset latex2sympy evaluates to a number).</summary>
    public static bool TryEvaluateLatex(string latex, out double value)
    {
        value = double.NaN;
        string expression;
        try { expression = LatexToExpression(latex); }
        catch (FormatException) { return false; }
        try
        {
            var result = new ExpressionParser(expression, latex: true).ParseAll();
            value = result.Value;
            return !double.IsNaN(value) && !double.IsInfinity(value);
        }
        catch (FormatException) { return false; }
        catch (DivideByZeroException) { return false; }
    }

    /// <summary>Rewrites LaTeX into the evaluator's syntax: \frac{a}{b} → ((a)/(b)), \sqrt{x} → sqrt(x), \pi → pi, braces → parentheses.</summary>
    public static string LatexToExpression(string latex)
    {
        string s = latex.Trim().Trim('$');
        foreach (var (from, to) in new[] { ("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\ ", ""),
                     ("\\cdot", "*"), ("\\times", "*"), ("\\div", "/"), ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac") })
            s = s.Replace(from, to, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int i = 0;
        ConvertSequence(s, ref i, sb, stopAt: '\0');
        if (i != s.Length) throw new FormatException($"unbalanced braces in '{latex}'");
        return sb.ToString();
    }

    private static void ConvertSequence(string s, ref int i, StringBuilder sb, char stopAt)
    {
        while (i < s.Length && s[i] != stopAt)
        {
            char c = s[i];
            if (c == '{') { i++; sb.Append('('); ConvertSequence(s, ref i, sb, '}'); Expect(s, ref i, '}'); sb.Append(')'); }
            else if (c == '}') throw new FormatException("unexpected '}'");
            else if (c == '\\')
            {
                int start = ++i;
                while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
                string command = s[start..i];
                switch (command)
                {
                    case "frac":
                        sb.Append("((");
                        ConvertArgument(s, ref i, sb);
                        sb.Append(")/(");
                        ConvertArgument(s, ref i, sb);
                        sb.Append("))");
                        break;
                    case "sqrt":
                        SkipSpaces(s, ref i);
                        if (i < s.Length && s[i] == '[')
                        {
                            i++;
                            var degree = new StringBuilder();
                            ConvertSequence(s, ref i, degree, ']');
                            Expect(s, ref i, ']');
                            sb.Append("((");
                            ConvertArgument(s, ref i, sb);
                            sb.Append(")**(1/(").Append(degree).Append(")))");
                        }
                        else { sb.Append("sqrt("); ConvertArgument(s, ref i, sb); sb.Append(')'); }
                        break;
                    case "pi": sb.Append(" pi "); break;
                    default: throw new FormatException($"unsupported LaTeX command \\{command}");
                }
            }
            else if (c == '^') { sb.Append("**"); i++; }
            else { sb.Append(c); i++; }
        }
    }

    private static void ConvertArgument(string s, ref int i, StringBuilder sb)
    {
        SkipSpaces(s, ref i);
        if (i >= s.Length) throw new FormatException("missing argument");
        if (s[i] == '{') { i++; ConvertSequence(s, ref i, sb, '}'); Expect(s, ref i, '}'); }
        else if (s[i] == '\\') { int start = i; i++; while (i < s.Length && char.IsAsciiLetter(s[i])) i++; var inner = new StringBuilder(); int j = 0; ConvertSequence(s[start..i], ref j, inner, '\0'); sb.Append(inner); }
        else { sb.Append(s[i]); i++; } // \frac12 → 1 and 2
    }

    private static void SkipSpaces(string s, ref int i) { while (i < s.Length && s[i] == ' ') i++; }

    private static void Expect(string s, ref int i, char c)
    {
        if (i >= s.Length || s[i] != c) throw new FormatException($"expected '{c}'");
        i++;
    }

    private readonly record struct Number(double Value, bool IsInteger);

    /// <summary>Recursive-descent evaluator with Python's precedence: | ^ &amp; below + -, then * / // %, unary, ** (right-assoc).</summary>
    private sealed class ExpressionParser(string text, bool latex)
    {
        private int _at;

        public Number ParseAll()
        {
            var value = ParseXor();
            SkipSpace();
            if (_at != text.Length) throw new FormatException($"unexpected '{text[_at]}'");
            return value;
        }

        private void SkipSpace() { while (_at < text.Length && char.IsWhiteSpace(text[_at])) _at++; }

        private bool Take(string token)
        {
            SkipSpace();
            if (string.CompareOrdinal(text, _at, token, 0, token.Length) != 0) return false;
            _at += token.Length;
            return true;
        }

        private Number ParseXor()
        {
            var left = ParseAdditive();
            while (!latex && Take("^"))
            {
                var right = ParseAdditive();
                if (!left.IsInteger || !right.IsInteger) throw new FormatException("^ needs integers");
                left = new Number((long)left.Value ^ (long)right.Value, true);
            }
            return left;
        }

        private Number ParseAdditive()
        {
            var left = ParseTerm();
            while (true)
            {
                if (Take("+")) { var r = ParseTerm(); left = new Number(left.Value + r.Value, left.IsInteger && r.IsInteger); }
                else if (Take("-")) { var r = ParseTerm(); left = new Number(left.Value - r.Value, left.IsInteger && r.IsInteger); }
                else return left;
            }
        }

        private Number ParseTerm()
        {
            var left = ParseUnary();
            while (true)
            {
                SkipSpace();
                if (Take("//")) { var r = ParseUnary(); if (r.Value == 0) throw new DivideByZeroException(); left = new Number(Math.Floor(left.Value / r.Value), left.IsInteger && r.IsInteger); }
                else if (Take("/")) { var r = ParseUnary(); if (r.Value == 0) throw new DivideByZeroException(); left = new Number(left.Value / r.Value, false); }
                else if (!Peek("**") && Take("*")) { var r = ParseUnary(); left = new Number(left.Value * r.Value, left.IsInteger && r.IsInteger); }
                else if (!latex && Take("%")) { var r = ParseUnary(); if (r.Value == 0) throw new DivideByZeroException(); left = new Number(left.Value - r.Value * Math.Floor(left.Value / r.Value), left.IsInteger && r.IsInteger); }
                else if (latex && StartsOperand()) { var r = ParseUnary(); left = new Number(left.Value * r.Value, left.IsInteger && r.IsInteger); } // implicit product
                else return left;
            }
        }

        private bool Peek(string token) { SkipSpace(); return string.CompareOrdinal(text, _at, token, 0, token.Length) == 0; }

        private bool StartsOperand()
        {
            SkipSpace();
            return _at < text.Length && (text[_at] == '(' || char.IsAsciiDigit(text[_at]) || text[_at] == '.' || char.IsAsciiLetter(text[_at]));
        }

        private Number ParseUnary()
        {
            if (Take("-")) { var v = ParseUnary(); return new Number(-v.Value, v.IsInteger); }
            if (Take("+")) return ParseUnary();
            return ParsePower();
        }

        private Number ParsePower()
        {
            var b = ParseAtom();
            if (Take("**"))
            {
                var e = ParseUnary(); // right-associative, binds an exponent's unary minus
                double v = Math.Pow(b.Value, e.Value);
                return new Number(v, b.IsInteger && e.IsInteger && e.Value >= 0);
            }
            return b;
        }

        private Number ParseAtom()
        {
            SkipSpace();
            if (_at >= text.Length) throw new FormatException("unexpected end");
            if (Take("("))
            {
                var inner = ParseXor();
                if (!Take(")")) throw new FormatException("missing ')'");
                return inner;
            }
            if (latex && Take("sqrt("))
            {
                var inner = ParseXor();
                if (!Take(")")) throw new FormatException("missing ')'");
                return new Number(Math.Sqrt(inner.Value), false);
            }
            if (latex && Take("pi")) return new Number(Math.PI, false);
            int start = _at;
            while (_at < text.Length && (char.IsAsciiDigit(text[_at]) || text[_at] == '.' || text[_at] == '_')) _at++;
            if (_at < text.Length && (text[_at] == 'e' || text[_at] == 'E') && _at > start)
            {
                int save = _at;
                _at++;
                if (_at < text.Length && (text[_at] == '+' || text[_at] == '-')) _at++;
                if (_at < text.Length && char.IsAsciiDigit(text[_at])) { while (_at < text.Length && char.IsAsciiDigit(text[_at])) _at++; }
                else _at = save;
            }
            string literal = text[start.._at];
            if (literal.Length == 0) throw new FormatException($"unexpected '{text[_at]}'");
            bool isInteger = literal.All(c => char.IsAsciiDigit(c) || c == '_');
            if (!latex && isInteger && literal.Length > 1 && literal.TrimStart('_')[0] == '0' && literal.Replace("_", "").Any(c => c != '0'))
                throw new FormatException("leading zeros are a syntax error in Python");
            if (!PythonText.TryParseFloat(literal, out double value)) throw new FormatException($"bad number '{literal}'");
            return new Number(value, isInteger);
        }
    }
}
