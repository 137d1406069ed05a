// check.mjs: the daemons' API documents against the daemons themselves
// (docs/testing.md, `make openapi-check`).
//
//   node check.mjs BUILD              each docs/<daemon>-openapi.yaml must be
//                                     valid OpenAPI 3.1.0 for swagger-parser,
//                                     declare the path parameters it uses, and
//                                     document exactly the routes that
//                                     BUILD/bin/assay-<daemon> --print-routes
//                                     prints, plus the httpd built-ins
//   node check.mjs --self-test BUILD  shows that the check can fail: a document
//                                     with one route removed, one with a route
//                                     the daemon lacks, one without a built-in,
//                                     one with a misnamed path parameter, one
//                                     with the YAML defect of issue 11 and one
//                                     that is OpenAPI 3.0 must each be
//                                     reported, and a renamed path parameter
//                                     or a quoted comma must not
//
// Every difference is printed, one line each; exit 0 when there is none,
// 1 otherwise, 2 on misuse.
import SwaggerParser from '@apidevtools/swagger-parser';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs');
const DAEMONS = ['escrow', 'provider', 'validator'];
const OPENAPI_VERSION = '3.1.0';
// Answered by httpd/httpd.c itself (is_builtin) on every daemon, outside
// the route tables: each document must list them as well.
const BUILTINS = ['GET /livez', 'GET /readyz', 'GET /metrics'];
// The operations of an OpenAPI Path Item; its other keys (parameters,
// summary, servers, ...) are not routes.
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
// What a --print-routes line is: a method token and an absolute path.
const ROUTE_LINE = /^([A-Z]+) (\/[^\s]*)$/;

function docPath(daemon) {
	return path.join(DOCS, `${daemon}-openapi.yaml`);
}

// httpd_route_match (httpd/framing.c) takes any segment "{...}" of at
// least two bytes as a parameter whatever its name, so "/v1/jobs/{id}"
// and "/v1/jobs/{job}" are one route.
function normalise(p) {
	return p.split('/').map((s) => (s.length >= 2 && s.startsWith('{') && s.endsWith('}') ? '{}' : s)).join('/');
}

// Map "METHOD normalised-path" -> "METHOD path" as written, and the
// routes that collide in it: one route twice in a table (only the first
// would ever match), or "/a/{x}" and "/a/{y}" in a document (which
// OpenAPI calls identical and invalid).
function routeMap(list) {
	const m = new Map(), dups = [];
	for (const r of list) {
		const sp = r.indexOf(' ');
		const k = `${r.slice(0, sp)} ${normalise(r.slice(sp + 1))}`;
		if (m.has(k))
			dups.push(`${m.get(k)} and ${r}`);
		else
			m.set(k, r);
	}
	return [m, dups];
}

function documentedRoutes(api) {
	const out = [];
	for (const [p, item] of Object.entries(api.paths ?? {}))
		for (const k of Object.keys(item ?? {}))
			if (METHODS.includes(k))
				out.push(`${k.toUpperCase()} ${p}`);
	return out;
}

// The daemon's route table, from its own --print-routes (no key, no
// database, no environment needed: ASSAY_* variables are not passed).
// Returns [routes, problems].
function tableRoutes(bin) {
	let text;
	try {
		text = execFileSync(bin, ['--print-routes'], {
			encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
			stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000,
		});
	} catch (e) {
		return [[], [`could not run '${bin} --print-routes': ${e.message.split('\n')[0]}`]];
	}
	const routes = [], problems = [];
	for (const line of text.split('\n')) {
		if (line === '')
			continue;
		if (!ROUTE_LINE.test(line))
			problems.push(`${path.basename(bin)} --print-routes printed '${line}', not 'METHOD /PATH'`);
		else
			routes.push(line);
	}
	if (routes.length === 0 && problems.length === 0)
		problems.push(`${path.basename(bin)} --print-routes printed no route`);
	return [routes, problems];
}

// The differences between a document's routes and a route table.
function compareRoutes(name, docName, docList, table) {
	const [doc, ddup] = routeMap(docList), [tab, tdup] = routeMap(table), problems = [];
	for (const d of tdup)
		problems.push(`${name}: the route table holds one route twice: ${d}`);
	for (const d of ddup)
		problems.push(`${name}: ${docName} documents one route twice: ${d}`);
	for (const [k, r] of tab)
		if (!doc.has(k))
			problems.push(`${name}: ${r} is in the route table but not in ${docName}`);
	for (const b of BUILTINS)
		if (!doc.has(b))
			problems.push(`${name}: ${b} (an httpd built-in) is not in ${docName}`);
	const builtins = new Set(BUILTINS);
	for (const [k, r] of doc)
		if (!tab.has(k) && !builtins.has(k))
			problems.push(`${name}: ${docName} documents ${r}, which is not in the route table`);
	return problems;
}

// swagger-parser checks OpenAPI 3.1 against its schema only: that each
// {name} of a path is declared as a required path parameter of each of
// its operations, and nothing else is, is checked here (codegen tools
// rely on it).  api is dereferenced.
function pathParamProblems(name, docName, api) {
	const problems = [];
	for (const [p, item] of Object.entries(api.paths ?? {})) {
		const want = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
		for (const k of Object.keys(item ?? {}).filter((x) => METHODS.includes(x))) {
			const op = `${k.toUpperCase()} ${p}`, declared = new Map();
			for (const prm of [...(item.parameters ?? []), ...(item[k].parameters ?? [])])
				if (prm?.in === 'path')
					declared.set(prm.name, prm);
			for (const w of want)
				if (!declared.has(w))
					problems.push(`${name}: ${docName}: ${op} does not declare its path parameter '${w}'`);
			for (const [d, prm] of declared) {
				if (!want.includes(d))
					problems.push(`${name}: ${docName}: ${op} declares path parameter '${d}', which its path lacks`);
				else if (prm.required !== true)
					problems.push(`${name}: ${docName}: ${op}: path parameter '${d}' is not required: true`);
			}
		}
	}
	return problems;
}

// Validates the document at file and compares it with the route table.
// Returns the list of problems (empty: they agree).
async function checkDocument(name, file, table) {
	const docName = path.relative(path.dirname(DOCS), file).startsWith('..')
		? file : path.relative(path.dirname(DOCS), file);
	const problems = [];
	let api, deref;
	try {
		// parse for the routes as written; validate answers a
		// dereferenced copy.
		api = await SwaggerParser.parse(file);
		deref = await SwaggerParser.validate(file);
	} catch (e) {
		problems.push(`${name}: ${docName} is not a valid OpenAPI document: ${e.message.trim().replace(/\n\s*/g, '; ')}`);
		if (!api)
			return problems;
	}
	if (api.openapi !== OPENAPI_VERSION)
		problems.push(`${name}: ${docName} says openapi ${JSON.stringify(api.openapi)}, not ${OPENAPI_VERSION}`);
	if (deref)
		problems.push(...pathParamProblems(name, docName, deref));
	return problems.concat(compareRoutes(name, docName, documentedRoutes(api), table));
}

async function check(build) {
	let problems = [];
	for (const d of DAEMONS) {
		const [table, tp] = tableRoutes(path.join(build, 'bin', `assay-${d}`));
		problems = problems.concat(tp);
		const dp = await checkDocument(d, docPath(d), table);
		problems = problems.concat(dp);
		if (tp.length === 0 && dp.length === 0)
			console.log(`openapi-check: ${d}: docs/${d}-openapi.yaml valid, ${table.length} route${table.length === 1 ? '' : 's'} + ${BUILTINS.length} built-ins agree`);
	}
	return problems;
}

// ---------------------------------------------------------------- self-test

async function selfTest(build) {
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-openapi-'));
	const failures = [];
	const [table, tp] = tableRoutes(path.join(build, 'bin', 'assay-escrow'));
	if (tp.length || table.length < 2) {
		fs.rmSync(tmp, { recursive: true, force: true });
		return tp.length ? tp : ['self-test: the escrow printed fewer than two routes'];
	}
	const original = await SwaggerParser.parse(docPath('escrow'));
	const write = (name, text) => {
		const f = path.join(tmp, name);
		fs.writeFileSync(f, text);
		return f;
	};
	// Runs the real check on a variant: each substring of `want` must
	// name a reported problem and each reported problem contain one of
	// them (want empty: nothing may be reported).
	const expect = async (what, file, want) => {
		const got = await checkDocument('escrow', file, table);
		const ok = want.every((w) => got.some((g) => g.includes(w))) &&
			got.every((g) => want.some((w) => g.includes(w)));
		console.log(`openapi-check: self-test: ${what}: ${ok ? 'reported as expected' : 'NOT as expected'}`);
		for (const g of got.slice(0, 3))
			console.log(`    ${g}`);
		if (got.length > 3)
			console.log(`    (and ${got.length - 3} more)`);
		if (!ok)
			failures.push(`self-test: ${what}: wanted problems naming each of ${JSON.stringify(want)} and nothing else, got ${got.length}`);
	};
	const variant = (mutate) => {
		const api = structuredClone(original);
		mutate(api);
		return api;
	};

	try {
		// The unchanged document, as a file elsewhere: no problem.
		await expect('the escrow document copied unchanged', write('same.json', JSON.stringify(original)), []);

		// One route of the table removed from the document.
		const victim = table[table.length - 1];
		const [vm, vp] = [victim.split(' ')[0].toLowerCase(), victim.split(' ')[1]];
		await expect(`'${victim}' removed from the document`,
			write('missing.json', JSON.stringify(variant((api) => {
				delete api.paths[vp][vm];
				if (Object.keys(api.paths[vp]).every((k) => !METHODS.includes(k)))
					delete api.paths[vp];
			}))), [`${victim} is in the route table but not in`]);

		// A documented route the daemon does not serve.
		await expect("'DELETE /v1/params' documented but not served",
			write('extra.json', JSON.stringify(variant((api) => {
				api.paths['/v1/params'].delete = { responses: { 204: { description: 'gone' } } };
			}))), ['documents DELETE /v1/params, which is not in the route table']);

		// One route documented under two parameter names.
		await expect("'GET /v1/jobs/{job}' documented beside 'GET /v1/jobs/{id}'",
			write('twice.json', JSON.stringify(variant((api) => {
				api.paths['/v1/jobs/{job}'] = { get: { ...api.paths['/v1/jobs/{id}'].get,
					parameters: [{ name: 'job', in: 'path', required: true, schema: { type: 'string' } }] } };
			}))), ['documents one route twice: GET /v1/jobs/{id} and GET /v1/jobs/{job}']);

		// A built-in left out.
		await expect("'GET /metrics' left out",
			write('builtin.json', JSON.stringify(variant((api) => { delete api.paths['/metrics']; }))),
			['GET /metrics (an httpd built-in) is not in']);

		// A path parameter renamed: the same route for httpd_route_match.
		await expect('{id} renamed {job} everywhere (no difference)',
			write('renamed.json', JSON.stringify(original).replaceAll('{id}', '{job}')
				.replaceAll('"name":"id"', '"name":"job"')), []);

		// A path parameter declared under another name than its path's.
		await expect("the JobId parameter named 'job' while paths say {id}",
			write('param.json', JSON.stringify(variant((api) => {
				api.components.parameters.JobId.name = 'job';
			}))), ["does not declare its path parameter 'id'", "declares path parameter 'job'"]);

		// The defect of issue 11: an unquoted comma inside a flow mapping
		// makes a stray key, which the validator refuses; the same
		// document with that description quoted passes.
		const flowDoc = (desc) => {
			const byPath = new Map();
			for (const r of [...BUILTINS, ...table]) {
				const [m, p] = r.split(' ');
				byPath.set(p, [...(byPath.get(p) ?? []), m.toLowerCase()]);
			}
			const lines = ['openapi: 3.1.0', 'info: { title: t, version: "1" }', 'paths:'];
			let first = true;
			for (const [p, ms] of byPath) {
				const params = [...p.matchAll(/\{([^}]+)\}/g)].map((x) =>
					`{ name: ${x[1]}, in: path, required: true, schema: { type: string } }`);
				const ops = ms.map((m) => {
					const d = first ? desc : 'ok';
					first = false;
					return `${m}: { responses: { "200": { description: ${d} } } }`;
				});
				lines.push(`  ${p}: { ${params.length ? `parameters: [${params.join(', ')}], ` : ''}${ops.join(', ')} }`);
			}
			return lines.join('\n') + '\n';
		};
		await expect('a flow mapping with its comma quoted (no difference)',
			write('quoted.yaml', flowDoc("'the job (paid, or releasing when busy)'")), []);
		await expect('an unquoted comma in a flow mapping (issue 11)',
			write('comma.yaml', flowDoc('the job (paid, or releasing when busy)')),
			['is not a valid OpenAPI document']);

		// An OpenAPI 3.0 document, valid as such and with every route, is
		// not what we ship.
		const paths = {};
		for (const r of [...BUILTINS, ...table]) {
			const [m, p] = r.split(' ');
			const parameters = [...p.matchAll(/\{([^}]+)\}/g)].map((x) => (
				{ name: x[1], in: 'path', required: true, schema: { type: 'string' } }));
			paths[p] = paths[p] ?? (parameters.length ? { parameters } : {});
			paths[p][m.toLowerCase()] = { responses: { 200: { description: 'ok' } } };
		}
		await expect('openapi 3.0.3 instead of 3.1.0', write('v30.json', JSON.stringify({
			openapi: '3.0.3', info: { title: 't', version: '1' }, paths,
		})), ['not 3.1.0']);
	} finally {
		fs.rmSync(tmp, { recursive: true, force: true });
	}
	return failures;
}

// ---------------------------------------------------------------- main

const args = process.argv.slice(2);
const self = args[0] === '--self-test';
const build = self ? args[1] : args[0];
if (!build || args.length !== (self ? 2 : 1)) {
	console.error('usage: node check.mjs [--self-test] BUILD_DIR');
	process.exit(2);
}
const problems = self ? await selfTest(path.resolve(build)) : await check(path.resolve(build));
for (const p of problems)
	console.error(`openapi-check: ${p}`);
if (problems.length)
	console.error(`openapi-check: ${problems.length} problem(s)${self ? ': the check cannot be trusted' : ''}`);
else if (self)
	console.log('openapi-check: self-test: every broken document was caught');
process.exit(problems.length ? 1 : 0);
