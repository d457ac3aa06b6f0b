"""Writes yorn_rating_{mme,pope,hallusion}.tsv and yorn_rating_cases.json: random Y/N tables and predictions scored by
VLMEvalKit's own YOrN_Extraction and MME_rating / POPE_rating / Hallusion_rating (b862cf76), loaded at run time from a
checkout. Needs pandas + numpy (Debian 12: python3-pandas 1.5.3).
Usage: python3 make_yorn_rating_cases.py /path/to/VLMEvalKit-checkout
"""
import json, os, random, re, sys
from collections import defaultdict
import numpy as np
import pandas as pd

root = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))

def load_functions(path, names, namespace):
    source = open(os.path.join(root, path), encoding='utf-8').read()
    for name in names:
        exec(re.search(r'^def ' + name + r'\(.*?(?=^\S)', source, re.S | re.M).group(0), namespace)
    return namespace

frames = {}
ns = {'np': np, 'pd': pd, 'defaultdict': defaultdict, 'load': lambda key: frames[key].copy(),
      'd2df': lambda D: pd.DataFrame({x: [D[x]] for x in D})}
load_functions('vlmeval/smp/misc.py', ['process_punctuation'], ns)
load_functions('vlmeval/dataset/utils/yorn.py', ['YOrN_Extraction', 'MME_rating', 'POPE_rating', 'Hallusion_rating'], ns)

rng = random.Random(7)
image = 'A' * 80
replies = ['Yes', 'No', 'yes.', 'No, it is not.', 'Yes, there is no cat.', 'I am not sure', 'YES!', 'no', '', 'Maybe yes']
perception = ['OCR', 'artwork', 'celebrity', 'color', 'count', 'existence', 'landmark', 'position', 'posters', 'scene']
reasoning = ['code_reasoning', 'commonsense_reasoning', 'numerical_calculation', 'text_translation']

def write(name, frame):
    frame.to_csv(os.path.join(here, name), sep='\t', index=False)

def score(frame):
    frame = frame.copy()
    frame['prediction'] = [str(x) for x in frame['prediction']]
    frame['extracted'] = [ns['YOrN_Extraction'](x) for x in frame['prediction']]
    frame['score'] = frame['answer'] == frame['extracted']
    return frame

cases = {}
# MME: 14 categories x 3 images x 2 questions
rows = []
for c in perception + reasoning:
    for i in range(3):
        for q in range(2):
            rows.append(dict(index=len(rows), image=image, image_path=f'{c}/{i}.jpg', question=f'Q{q}? Please answer yes or no.',
                             answer=rng.choice(['Yes', 'No']), category=c, prediction=rng.choice(replies)))
mme = pd.DataFrame(rows)
write('yorn_rating_mme.tsv', mme.drop(columns=['prediction']))
frames['mme'] = score(mme)
cases['MME'] = {'predictions': list(mme['prediction']), 'metrics': {k: float(v) for k, v in ns['MME_rating']('mme').iloc[0].items()}}

# POPE: 40 rows with comma-joined splits
rows = []
for i in range(40):
    splits = [s for s in ['adversarial', 'popular', 'random'] if rng.random() < 0.6] or ['random']
    rows.append(dict(index=i, image=image, question='Is there a cat in the image?', answer=rng.choice(['Yes', 'No']),
                     category=','.join(splits), prediction=rng.choice(replies)))
pope = pd.DataFrame(rows)
write('yorn_rating_pope.tsv', pope.drop(columns=['prediction']))
frames['pope'] = score(pope)
table = ns['POPE_rating']('pope')
cases['POPE'] = {'predictions': list(pope['prediction']),
                 'rows': {r['split']: {k: float(r[k]) for k in ['Overall', 'acc', 'precision', 'recall']} for _, r in table.iterrows()}}

# HallusionBench: string indices, VD/VS sharing ids
rows = []
for i in range(36):
    cat, l2 = rng.choice(['VD', 'VS']), rng.choice(['chart', 'map', 'table'])
    rows.append(dict(index=f'{cat}_{l2}_{i}_{rng.randint(0, 3)}_{rng.randint(0, 1)}_{rng.randint(0, 1)}', image=image, question='Is it?',
                     answer=rng.choice(['Yes', 'No']), category=cat, prediction=rng.choice(replies)))
    rows[-1]['l2-category'] = l2
hall = pd.DataFrame(rows)
hall = hall.drop_duplicates(subset='index')
write('yorn_rating_hallusion.tsv', hall.drop(columns=['prediction']))
frames['hall'] = score(hall)
table = ns['Hallusion_rating']('hall')
cases['HallusionBench'] = {'predictions': list(hall['prediction']),
                           'rows': {r['split']: {k: float(r[k]) for k in ['aAcc', 'fAcc', 'qAcc']} for _, r in table.iterrows()}}
json.dump({'source': 'VLMEvalKit b862cf76 yorn.py ratings, pandas ' + pd.__version__, 'cases': cases}, sys.stdout, indent=1)
