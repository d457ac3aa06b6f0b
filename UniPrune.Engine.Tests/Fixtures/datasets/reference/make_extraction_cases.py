"""Writes extraction_cases.json: answers run through VLMEvalKit's own can_infer, YOrN_Extraction and
process_punctuation (reference commit b862cf76), for UniPrune's differential test of its C# ports.

Usage: python3 make_extraction_cases.py /path/to/VLMEvalKit-checkout > extraction_cases.json
The functions are loaded from the checkout at run time (their text is not copied here); only the standard library
is needed. Inputs are generated from a fixed seed.
"""
import json, random, re, string, sys, os

root = sys.argv[1]

def load_functions(path, names):
    source = open(os.path.join(root, path), encoding='utf-8').read()
    namespace = {'string': string, 're': re, 'os': os, 'cp': __import__('copy')}
    for name in names:
        match = re.search(r'^def ' + name + r'\(.*?(?=^\S)', source, re.S | re.M)
        exec(match.group(0), namespace)
    return namespace

matching = load_functions('vlmeval/utils/matching_util.py', ['can_infer_option', 'can_infer_text', 'can_infer'])
misc = load_functions('vlmeval/smp/misc.py', ['process_punctuation'])
yorn = load_functions('vlmeval/dataset/utils/yorn.py', ['YOrN_Extraction'])
yorn['process_punctuation'] = misc['process_punctuation']

option_sets = [
    {'A': 'cat', 'B': 'dog', 'C': 'bird', 'D': 'fish'},
    {'A': 'red', 'B': 'blue'},
    {'A': '3', 'B': '4.0', 'C': 'None of the above'},
    {'A': '红色', 'B': '绿色', 'C': '蓝色'},
]
pieces = ['A', 'B', 'C', 'D', 'E', 'Z', 'a', 'b', 'I', 'answer', 'The', 'is', 'option', 'correct', 'cat', 'Dog', 'blue', 'red',
          '3', '4.0', '1,000', '2.5', 'yes', 'Yes', 'YES', 'no', 'No', 'not', 'none', '红色', '绿色', '答案', 'Cannot determine the answer',
          "Sorry, I can't help with images of people yet.", 'Failed to obtain answer via API', '(A)', '[B]', '**C**', '{D}', 'A.', 'B,', 'C:',
          'D;', 'A!', '#B', 'A-', 'yes/no', 'no-yes', '"yes"', '(no)', 'yes?', 'no!', 'e.g.', '...', '.', ',', ';', '\n', '\t', '  ']
rng = random.Random(20251104)
answers = ['', ' ', 'A', 'B.', 'No' + '.' * 31, 'No' + '.' * 32, 'No' + '.' * 40, 'yes' + '.' * 33, '1,5 yes,really', 'yes,really',
           'x1. yes', 'yes 2.', 'The answer is b', 'B is my pick', 'B is my pick here']
for _ in range(600):
    words = [rng.choice(pieces) for _ in range(rng.randint(1, 9))]
    glue = rng.choice([' ', ' ', '', ', ', '. '])
    answers.append(glue.join(words))

cases = []
for answer in answers:
    choices = option_sets[len(cases) % len(option_sets)]
    inferred = matching['can_infer'](answer, dict(choices))
    cases.append({
        'answer': answer,
        'choices': choices,
        'can_infer': inferred if inferred else False,
        'yorn': yorn['YOrN_Extraction'](answer),
        'punctuation': misc['process_punctuation'](answer.lower()),
    })
json.dump({'source': 'VLMEvalKit b862cf76: can_infer, YOrN_Extraction, process_punctuation', 'cases': cases},
          sys.stdout, ensure_ascii=False, indent=0)
