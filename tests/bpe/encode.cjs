// encode.cjs: the independent reference that tests/test_tokens.c compares
// `assay tokens` (client/bpe.c) with: gpt-3-encoder, pinned in
// package-lock.json.
//
//   node encode.cjs IN OUT
//
// IN is a JSON array of strings; OUT receives a JSON array holding, for
// each string in order, the array of GPT-2 token ids gpt-3-encoder gives.
'use strict';
const fs = require('fs');
const { encode } = require('gpt-3-encoder');

const [inPath, outPath] = process.argv.slice(2);
const texts = JSON.parse(fs.readFileSync(inPath, 'utf8'));
fs.writeFileSync(outPath, JSON.stringify(texts.map((t) => encode(t))));
