"""Writes mathvista_postcheck.tsv and mathvista_postcheck_cases.json: MathVista rows and predictions run through
VLMEvalKit's own post_check (b862cf76; with its can_infer), prefetch and final. Where the prefetch is falsy the
prediction itself stands in for the judge's reply. Needs pandas (Debian 12: python3-pandas 1.5.3).
Usage: python3 make_mathvista_cases.py /path/to/VLMEvalKit-checkout
"""
import json, os, random, re, string, sys, copy
import pandas as pd

root = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
ns = {'string': string, 're': re, 'os': os, 'cp': copy}
for path, names in [('vlmeval/utils/matching_util.py', ['can_infer_option', 'can_infer_text', 'can_infer']),
                    ('vlmeval/dataset/utils/mathvista.py', ['list_to_dict', 'post_check'])]:
    source = open(os.path.join(root, path), encoding='utf-8').read()
    for name in names:
        exec(re.search(r'^def ' + name + r'\(.*?(?=^\S)', source, re.S | re.M).group(0), ns)

rng = random.Random(11)
rows, predictions = [], []
mc_choices = ["['3/11', '8/11', '6/11', '3/5']", "['yes', 'no']", "['2', '4', '6', '8']"]
for i in range(120):
    kind = rng.choice(['multi_choice', 'integer', 'float', 'text'])
    if kind == 'multi_choice':
        choices = rng.choice(mc_choices)
        options = eval(choices)
        k = rng.randrange(len(options))
        row = dict(question_type='multi_choice', answer_type='text', answer=options[k], answer_option='ABCD'[k], choices=choices)
        pred = rng.choice(['ABCD'[k], '(%s)' % 'ABCD'[rng.randrange(4)], options[k], 'The answer is %s.' % 'ABCD'[rng.randrange(4)], 'none of them', 'A and B', options[0] + ' ' + options[-1]])
    elif kind == 'integer':
        value = rng.choice([0, 1, 7, 14, 2007, -3])
        row = dict(question_type='free_form', answer_type='integer', answer=str(value), answer_option='', choices='[]')
        pred = rng.choice([str(value), ' %d ' % value, '%d.0' % value, str(value + 1), 'It is %d' % value, '+%d' % value, '1_4', ''])
    elif kind == 'float':
        value = rng.choice([0.5, 1.25, 3.0, 0.0])
        row = dict(question_type='free_form', answer_type='float', answer=str(value), answer_option='', choices='[]')
        pred = rng.choice([str(value), '%.2f' % value, str(value + 0.1), '%g' % value, 'inf', 'about %s' % value, '1e0'])
    else:
        row = dict(question_type='free_form', answer_type=rng.choice(['text', 'list']), answer=rng.choice(['yes', '[1, 2]', 'None']),
                   answer_option='', choices='[]')
        pred = row['answer']
    row.update(index=i, image='A' * 80, question='Q%d' % i, task='t', skills="['s']")
    rows.append(row)
    predictions.append(pred)

columns = ['index', 'image', 'question', 'answer', 'question_type', 'answer_type', 'choices', 'answer_option', 'task', 'skills']
pd.DataFrame(rows)[columns].to_csv(os.path.join(here, 'mathvista_postcheck.tsv'), sep='\t', index=False)
data = pd.read_csv(os.path.join(here, 'mathvista_postcheck.tsv'), sep='\t')
cases = []
for (_, line), pred in zip(data.iterrows(), predictions):
    line = line.copy()
    line['prediction'] = pred
    prefetch = ns['post_check'](line, prefetch=True)
    line['res'] = prefetch if prefetch else pred
    cases.append({'prediction': pred, 'prefetch': bool(prefetch), 'prefetch_value': str(prefetch) if prefetch else None,
                  'final': bool(ns['post_check'](line, prefetch=False))})
json.dump({'source': 'VLMEvalKit b862cf76 mathvista.post_check, pandas ' + pd.__version__, 'cases': cases}, sys.stdout, indent=0)
