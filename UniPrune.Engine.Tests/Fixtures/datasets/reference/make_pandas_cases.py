"""Writes pandas_cases.json: how pandas.read_csv(path, sep='\t') (defaults) reads each TSV of ../ and of this folder.
Per cell: null for NaN, else str(value) as VLMEvalKit's f-strings print it; per column the dtype.
Run with Debian 12's python3-pandas (1.5.3, the version of the errata run): python3 make_pandas_cases.py > pandas_cases.json
"""
import glob, json, os, sys
import pandas as pd

here = os.path.dirname(os.path.abspath(__file__))
files = sorted(glob.glob(os.path.join(here, '..', '*.tsv'))) + sorted(glob.glob(os.path.join(here, '*.tsv')))
result = {'pandas': pd.__version__, 'files': {}}
for path in files:
    frame = pd.read_csv(path, sep='\t')
    name = os.path.relpath(path, os.path.join(here, '..'))
    result['files'][name] = {
        'columns': [str(c) for c in frame.columns],
        'dtypes': [str(t) for t in frame.dtypes],
        'rows': [[None if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False)],
    }
json.dump(result, sys.stdout, ensure_ascii=False, indent=0)
