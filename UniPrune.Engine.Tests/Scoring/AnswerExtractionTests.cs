using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Tests.Scoring;

public class AnswerExtractionTests
{
    private static readonly ChoiceOption[] Animals = [new('A', "cat"), new('B', "dog"), new('C', "bird"), new('D', "fish")];
    private static readonly ChoiceOption[] Colours = [new('A', "red"), new('B', "blue")];

    private static string Infer(string answer, ChoiceOption[]? choices = null) => AnswerExtraction.CanInfer(answer, choices ?? Animals).ToString();

    [Theory]
    [InlineData("A", "A")]
    [InlineData("The answer is B.", "B")]
    [InlineData("(C) bird", "C")]
    [InlineData("**D**", "D")]
    [InlineData("{B}", "B")]
    [InlineData("Answer: [A]", "A")]
    [InlineData("I think it is C; yes C!", "C")]
    public void A_single_option_letter_token_near_the_end_is_the_answer(string answer, string expected) => Assert.Equal(expected, Infer(answer));

    [Fact]
    public void A_lone_letter_more_than_four_tokens_from_the_end_falls_through()
    {
        Assert.Equal("False", Infer("A is what I would pick here"));                   // 7 tokens: index 0 is not > 2; no option text either
        Assert.Equal("False", Infer("A is what I would pick here now ok", Colours));
        Assert.Equal("B", Infer("it must be B for sure", Colours));                  // index 3 > 6-5=1
        Assert.Equal("B", Infer("B is my pick", Colours));                           // 4 tokens: index 0 > -1
        Assert.Equal("False", Infer("B is my pick here", Colours));                  // 5 tokens: index 0 is not > 0
    }

    [Fact]
    public void Two_letters_or_lower_case_letters_do_not_count_as_options()
    {
        Assert.Equal("False", Infer("A or B", Colours));
        Assert.Equal("False", Infer("the correct answer is b", Colours)); // no [HEAD] "answer is X" regex at the reference commit
        Assert.Equal("False", Infer("A-", Colours));                       // '-' is not a separator
    }

    [Fact]
    public void Letters_outside_the_options_are_ignored_and_a_lone_z_means_none()
    {
        Assert.Equal("False", Infer("C", Colours));
        Assert.Equal("Z", Infer("Z", Colours));
        Assert.Equal("Z", Infer("I choose Z.", Colours));
        Assert.Equal("A", Infer("A Z", Colours)); // a Z only counts when no option letter is there
    }

    [Fact]
    public void Refusals_map_to_z_and_api_failures_to_nothing()
    {
        Assert.Equal("Z", Infer("Cannot determine the answer from the picture, A", Colours));
        Assert.Equal("Z", Infer("Sorry, I can't help with images of people yet.", Colours));
        Assert.Equal("False", Infer("Failed to obtain answer via API. A", Colours));
    }

    [Fact]
    public void Option_text_matching_needs_exactly_one_hit_and_a_short_answer()
    {
        Assert.Equal("B", Infer("It is a Dog"));
        Assert.Equal("False", Infer("cat and dog"));
        Assert.Equal("False", Infer("it is surely a dog, surely, surely!!")); // 36 > 2·(3+3+4+4)=28 characters
        Assert.Equal("B", Infer("blue", Colours));
    }

    [Theory]
    [InlineData("Yes", "Yes")]
    [InlineData("No.", "No")]
    [InlineData("NO", "No")]
    [InlineData("yes, it is.", "Yes")]
    [InlineData("Yes!", "Yes")]
    [InlineData("Yes, there is no dog.", "Unknown")]
    [InlineData("", "Unknown")]
    [InlineData("Nope", "Unknown")]
    [InlineData("no-yes", "Unknown")]
    [InlineData("yes/no", "Unknown")]
    [InlineData("(yes)", "Yes")]
    [InlineData("Answer: no", "No")]
    public void Yes_no_extraction_works_on_whole_words(string prediction, string expected) => Assert.Equal(expected, AnswerExtraction.YesNo(prediction));

    [Fact]
    public void Punctuation_is_deleted_when_next_to_a_space_or_when_a_digit_comma_appears()
    {
        Assert.Equal("yes really", AnswerExtraction.ProcessPunctuation("yes,really"));
        Assert.Equal("Yes", AnswerExtraction.YesNo("yes,really"));
        Assert.Equal("15 yesreally", AnswerExtraction.ProcessPunctuation("1,5 yes,really"));
        Assert.Equal("Unknown", AnswerExtraction.YesNo("1,5 yes,really"));
        Assert.Equal("a b", AnswerExtraction.ProcessPunctuation("a, b"));
        Assert.Equal("3.5 and it", AnswerExtraction.ProcessPunctuation("3.5 and it."));
        Assert.Equal("x1.", AnswerExtraction.ProcessPunctuation("x1.")); // a digit on either side keeps the period
    }

    [Fact]
    public void Only_the_first_32_lone_periods_are_removed()
    {
        Assert.Equal("No", AnswerExtraction.YesNo("No" + new string('.', 32)));
        Assert.Equal("Unknown", AnswerExtraction.YesNo("No" + new string('.', 40)));
    }
}
