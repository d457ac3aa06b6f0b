using System.Text;
using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Scoring.Judge;

/// <summary>
/// The judge prompts exactly as VLMEvalKit (reference commit b862cf76) builds them: Y/N matching
/// (<c>yorn.py::YOrN_match_prompt</c>), MCQ matching (<c>multiple_choice.py::build_prompt/_cn</c>), MathVista and
/// MathVision answer extraction (<c>mathvista.py</c>, <c>mathv.py</c>: 5 in-context examples, the "respone" typo kept),
/// and MIA-Bench grading (<c>miabench.py::generate_prompt</c>). Byte-exact strings matter: cached judgements are keyed on them.
/// </summary>
public static class JudgePrompts
{
    public static string YesNoMatch(string question, string prediction) =>
        "You are an AI assistant who will help me to match an answer with two options of a question. "
        + "The options are only Yes / No. "
        + "You are provided with a question and an answer, "
        + "and you need to find which option (Yes / No) is most similar to the answer. "
        + "If the meaning of all options are significantly different from the answer, output Unknown. "
        + "Your should output a single word among the following 3 choices: Yes, No, Unknown.\n"
        + "Example 1: \n"
        + "Question: Is the word in this image 'Hello'?\nAnswer: The word in this image is 'Hello'.\nYour output: Yes\n"
        + "Example 2: \n"
        + "Question: Is the word in this image 'Hello'?\n"
        + "Answer: The word in this image is not 'Hello'.\nYour output: No\n"
        + "Example 3: \n"
        + $"Question: {question}?\nAnswer: {prediction}\nYour output: ";

    /// <summary><c>build_option_str</c>: "There are several options: \n" then "L. text\n" per option.</summary>
    public static string OptionString(IReadOnlyList<ChoiceOption> options)
    {
        var sb = new StringBuilder("There are several options: \n");
        foreach (var option in options) sb.Append(option.Letter).Append(". ").Append(option.Text).Append('\n');
        return sb.ToString();
    }

    /// <summary>The English matcher, or the Chinese one when the question has CJK characters.</summary>
    public static string McqMatch(string question, IReadOnlyList<ChoiceOption> options, string prediction)
    {
        string optionText = OptionString(options);
        if (PromptPolicy.HasChinese(question))
            return "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。"
                + "你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。"
                + "如果所有选项的意义都与答案显著不同，则输出 Z。"
                + "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。"
                + "例 1:"
                + "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n"
                + "例 2: \n"
                + "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n"
                + "例 3: \n"
                + $"问题: {question}?\n选项: {optionText}\n答案: {prediction}\n输出: ";
        return "You are an AI assistant who will help me to match "
            + "an answer with several options of a single-choice question. "
            + "You are provided with a question, several options, and an answer, "
            + "and you need to find which option is most similar to the answer. "
            + "If the meaning of all options are significantly different from the answer, output Z. "
            + "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
            + "Example 1: \n"
            + "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
            + "Answer: a cute teddy bear\nYour output: A\n"
            + "Example 2: \n"
            + "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
            + "Answer: Spider\nYour output: Z\n"
            + "Example 3: \n"
            + $"Question: {question}?\nOptions: {optionText}\nAnswer: {prediction}\nYour output: ";
    }

    private const string ExtractionTask =
        "\nPlease read the following example.\nThen extract the answer from the model response and type it at the end of the prompt.\n\n";

    private static readonly string[] MathVistaExamples =
    [
        "\nHint: Please answer the question requiring an integer answer and provide the final value,\ne.g., 1, 2, 3, at the end.\n\nQuestion: Which number is missing?\n\nModel response: The number missing in the sequence is 14.\n\nExtracted answer: 14\n",
        "\nHint: Please answer the question requiring a floating-point number with one decimal place and provide the final value,\ne.g., 1.2, 1.3, 1.4, at the end.\n\nQuestion: What is the fraction of females facing the camera?\n\nModel response: The fraction of females facing the camera is 0.6,\nwhich means that six out of ten females in the group are facing the camera.\n\nExtracted answer: 0.6\n",
        "\nHint: Please answer the question requiring a floating-point number with two decimal places and provide the final value,\ne.g., 1.23, 1.34, 1.45, at the end.\n\nQuestion: How much money does Luca need to buy a sour apple candy and a butter-scotch candy? (Unit: $)\n\nModel response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.\n\nExtracted answer: 1.45\n",
        "\nHint: Please answer the question requiring a Python list as an answer and provide the final list,\ne.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.\n\nQuestion: Between which two years does the line graph saw its maximum peak?\n\nModel response: The line graph saw its maximum peak between 2007 and 2008.\n\nExtracted answer: [2007, 2008]\n",
        "\nHint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n\nQuestion: What fraction of the shape is blue?\n\nChoices: (A) 3/11 (B) 8/11 (C) 6/11 (D) 3/5\n\nModel response: The correct answer is (B) 8/11.\n\nExtracted answer: B\n",
    ];

    private static readonly string[] MathVisionExamples =
    [
        "\nHint: Please answer the question and provide the final answer at the end.\n\nQuestion: Which number is missing?\n\nModel response: The number missing in the sequence is 14.\n\nExtracted answer: 14\n",
        "\nHint: Please answer the question and provide the final answer at the end.\n\nQuestion: What is the fraction of females facing the camera?\n\nModel response: The fraction of females facing the camera is 0.6,\nwhich means that six out of ten females in the group are facing the camera.\n\nExtracted answer: 0.6\n",
        "\nHint: Please answer the question and provide the final answer at the end.\n\nQuestion: How much money does Luca need to buy a sour apple candy and a butter-scotch candy? (Unit: $)\n\nModel response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.\n\nExtracted answer: 1.45\n",
        "\nHint: Please answer the question and provide the final answer at the end.\n\nQuestion: Between which two years does the line graph saw its maximum peak?\n\nModel response: The line graph saw its maximum peak between 2007 and 2008.\n\nExtracted answer: [2007, 2008]\n",
        "\nHint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n\nQuestion: What fraction of the shape is blue?\n\nChoices: (A) 3/11 (B) 8/11 (C) 6/11 (D) 3/5\n\nModel response: The correct answer is (B) 8/11.\n\nExtracted answer: B\n",
    ];

    public static string MathVistaExtraction(string question, string prediction) => Extraction(MathVistaExamples, question, prediction);

    public static string MathVisionExtraction(string question, string prediction) => Extraction(MathVisionExamples, question, prediction);

    private static string Extraction(string[] examples, string question, string prediction)
    {
        var sb = new StringBuilder(ExtractionTask);
        foreach (string example in examples) sb.Append(example).Append('\n');
        sb.Append(question).Append('\n');
        sb.Append("Model respone: ").Append(prediction);
        sb.Append("Extracted answer:");
        return sb.ToString();
    }

    private static readonly string[] Ordinals = ["first", "second", "third", "fourth", "fifth"];

    /// <summary>MIA-Bench's grading prompt for 1–5 components (the weights are printed as Python prints the list's numbers).</summary>
    public static string MiaBenchGrading(string question, IReadOnlyList<string> components, IReadOnlyList<string> weights, int componentCount, string response)
    {
        if (componentCount < 1 || componentCount > 5) throw new ArgumentOutOfRangeException(nameof(componentCount), $"MIA-Bench has 1 to 5 components, not {componentCount}");
        if (components.Count < componentCount || weights.Count < componentCount)
            throw new ArgumentException($"num_of_component is {componentCount} but {components.Count} components and {weights.Count} weights are given");
        string componentText, scoreText;
        if (componentCount == 1)
        {
            componentText = $"The first component is: '{components[0]}'. ";
            scoreText = $"The first component is worth: {weights[0]} scores. ";
        }
        else if (componentCount == 2)
        {
            componentText = $"The first component is: '{components[0]}', and the second component is '{components[1]}'. ";
            scoreText = $"The first and second component is each worth {weights[0]} and {weights[1]} scores. ";
        }
        else
        {
            var c = new StringBuilder($"The first component is: '{components[0]}'");
            for (int i = 1; i < componentCount; i++) c.Append($", and the {Ordinals[i]} component is '{components[i]}'");
            componentText = c.Append(". ").ToString();
            string names = string.Join(", ", Ordinals.Take(componentCount - 1)) + ", and " + Ordinals[componentCount - 1];
            string values = string.Join(", ", weights.Take(componentCount - 1)) + ", and " + weights[componentCount - 1];
            scoreText = $"The {names} component is each worth {values} scores.";
        }
        return "Here is an instruction for a multimodal LLM: '"
            + question
            + "'. You need to grade if the response from the model follows each component of the instruction. "
            + componentText
            + "The response is: '"
            + response
            + "'. You need to score the response and be strict. The total score ranges from 0 to 10, "
            + "depending on if the response follows the instruction. "
            + scoreText
            + "List scores of each component, and the total score in one sentence in this format: "
            + "score of component 1: x/2, score of component 2: y/8, total score: z/10. Then explain your reasons.";
    }
}
