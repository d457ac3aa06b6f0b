"""Writes mcq_circular.tsv and mcq_cases.json: an MMBench-style circular table with random predictions scored by
VLMEvalKit's own mcq_circular_eval / mcq_vanilla_eval (exact matching: no judge) and report_acc (b862cf76), loaded
from a checkout with file I/O stubbed in memory. Needs pandas (Debian 12: python3-pandas 1.5.3).
Usage: python3 make_mcq_cases.py /path/to/VLMEvalKit-checkout
"""
import copy, json, logging, os, random, re, string, sys
import numpy as np
import pandas as pd

root = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
store = {}
ns = {'string': string, 're': re, 'os': os, 'cp': copy, 'np': np, 'pd': pd, 'osp': os.path, 'rd': random,
      'defaultdict': __import__('collections').defaultdict,
      'load': lambda f: copy.deepcopy(store[f]), 'dump': lambda d, f: store.__setitem__(f, copy.deepcopy(d)),
      'get_logger': lambda name: logging.getLogger(name), 'get_pred_file_format': lambda: 'mem', 'timestr': lambda: 'now'}
ns['istype'] = lambda s, t: isinstance(s, t) or isinstance(s, (np.integer,)) if t is int else isinstance(s, t)
for path, names in [('vlmeval/utils/matching_util.py', ['can_infer_option', 'can_infer_text', 'can_infer']),
                    ('vlmeval/dataset/utils/multiple_choice.py', ['report_acc', 'build_choices', 'prefetch_answer', 'extract_answer_from_item',
                     'prefetch_circular_group', 'eval_vanilla', 'eval_circular_group', 'mcq_vanilla_eval', 'mcq_circular_eval'])]:
    source = open(os.path.join(root, path), encoding='utf-8').read()
    for name in names:
        exec(re.search(r'^def ' + name + r'\(.*?(?=^\S)', source, re.S | re.M).group(0), ns)
ns['MMB_abbrs'] = {'coarse_perception': 'CP', 'logic_reasoning': 'LR', 'attribute_reasoning': 'AR'}
ns['cn_string'] = lambda s: re.search('[\u4e00-\u9fff]', s) is not None
ns['build_option_str'] = lambda d: ''
ns['build_prompt'] = ns['build_prompt_cn'] = lambda q, o, p: ''  # the judge prompt is unused under exact matching

def track_progress_rich(func, tups, nproc=1, chunksize=1, save=None, keys=None):
    results = [func(**t) for t in tups]
    store[save] = dict(zip(keys, results))
    return results
ns['track_progress_rich'] = track_progress_rich

rng = random.Random(5)
rows, predictions = [], []
words = ['cat', 'dog', 'bird', 'fish', 'red', 'blue']
for q in range(30):
    n = rng.choice([2, 3, 4])
    options = rng.sample(words, n)
    correct = rng.randrange(n)
    l2, cat = rng.choice(['coarse_perception', 'logic_reasoning', 'attribute_reasoning']), rng.choice(['c1', 'c2'])
    for k in range(n):
        rotated = options[k:] + options[:k]
        answer = 'ABCD'[(correct - k) % n]
        row = dict(index=q + k * 1000000, question='Q%d' % q, hint=rng.choice(['', 'a hint']), answer=answer, category=cat,
                   split='dev', image='A' * 80 if k == 0 else str(q))
        row['l2-category'] = l2
        for j, letter in enumerate('ABCD'):
            row[letter] = rotated[j] if j < n else ''
        rows.append(row)
        predictions.append(rng.choice([answer, answer, answer, rotated['ABCD'.index(answer)], 'ABCD'[rng.randrange(n)],
                                       'I think (%s)' % answer, 'no idea', 'Z', 'A B']))
columns = ['index', 'question', 'hint', 'A', 'B', 'C', 'D', 'answer', 'category', 'l2-category', 'split', 'image']
pd.DataFrame(rows)[columns].to_csv(os.path.join(here, 'mcq_circular.tsv'), sep='\t', index=False)
meta = pd.read_csv(os.path.join(here, 'mcq_circular.tsv'), sep='\t')
data = meta.copy()
data['prediction'] = predictions
data = data.drop(columns=['image'])
result = {}
for name, fn in [('circular', ns['mcq_circular_eval']), ('vanilla_all', ns['mcq_vanilla_eval'])]:
    store.clear()
    scored = fn(None, data.copy(), meta, 1, 'result_' + name, 'MMBench_DEV_EN')
    acc = ns['report_acc'](scored)
    result[name] = {k: float(v) for k, v in acc.iloc[0].items() if k != 'split'}
json.dump({'source': 'VLMEvalKit b862cf76 mcq_circular_eval / mcq_vanilla_eval / report_acc, exact matching, pandas ' + pd.__version__,
           'predictions': predictions, 'results': result}, sys.stdout, indent=0)
