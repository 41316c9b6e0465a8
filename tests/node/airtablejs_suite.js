// The real airtable.js (npm `airtable`, pinned in package.json) against the runner's /v0 surface.
//
// Usage: node airtablejs_suite.js ENDPOINT_URL API_KEY BASE_ID
//
// Drives airtable.js's public surface as an application does — select() with every parameter (eachPage,
// all, firstPage, method: 'post'), find, create/update/replace/destroy (one record and arrays), typecast,
// Record methods, callbacks, makeRequest — and the AirtableError objects it builds from the answers
// (error, message, statusCode). Every check runs; the last stdout line is one JSON object:
// {"client", "version", "checks", "passed": [...], "failed": [{"check", "error"}]}. Exits 1 on any failure.
//
// The demo base (infra/airtable-emulator/src/seed.rs): `Projects` has 30 records "Project 01".."Project 30"
// and the views "Grid view", "Active projects", "Done". Read-only checks run first; writing checks work on
// records they created (their names carry RUN) and delete them.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');

// Observe (never alter) each HTTP call airtable.js makes: its fetch module is wrapped before the client
// loads, so checks can assert the method, URL and body the real client chose.
const fetchPath = require.resolve('airtable/lib/fetch');
require(fetchPath);
const realFetch = require.cache[fetchPath].exports;
const SEEN = [];
require.cache[fetchPath].exports = (url, options) => {
    SEEN.push({method: options.method, url: String(url), body: options.body});
    return realFetch(url, options);
};

const Airtable = require('airtable');
const VERSION = require('airtable/package.json').version;

const [ENDPOINT, KEY, BASE_ID] = process.argv.slice(2);
const RUN = crypto.randomBytes(4).toString('hex');
const airtable = new Airtable({apiKey: KEY, endpointUrl: ENDPOINT, requestTimeout: 60000});
const base = airtable.base(BASE_ID);
const table = base('Projects');
const FIELD_NAMES = ['Name', 'Status', 'Priority', 'Owner', 'Due', 'Active', 'Tags', 'Notes'];

const CHECKS = [];
const check = (name, fn) => CHECKS.push({name, fn});

let seedCache = null;
async function seed() {
    if (!seedCache) {
        seedCache = await table.select({pageSize: 100}).all();
    }
    return seedCache;
}
const ids = records => records.map(r => r.id);
async function seedIdsWhere(predicate) {
    return new Set((await seed()).filter(r => predicate(r.fields)).map(r => r.id));
}
const sortedNames = records => records.map(r => r.get('Name'));

// A call that must fail with an AirtableError. `error` is what airtable.js puts in `.error` for the status
// (it takes Airtable's type only for 422 and unknown statuses); `serverMessage` = the server sent a message
// that airtable.js passed through (404 and 422), rather than the client's fallback text.
async function expectError(promise, {statusCode, error, serverMessage = false}) {
    let result;
    try {
        result = await promise;
    } catch (err) {
        assert.ok(err instanceof Airtable.Error, `not an AirtableError: ${err && err.stack}`);
        assert.equal(err.statusCode, statusCode, `statusCode ${err.statusCode}: ${err}`);
        assert.equal(err.error, error, `error ${err.error}: ${err}`);
        assert.ok(typeof err.message === 'string' && err.message.length > 0, `no message: ${err}`);
        if (serverMessage) {
            const fallbacks = [
                'Could not find what you are looking for',
                'The operation cannot be processed',
                'An unexpected error occurred',
            ];
            assert.ok(!fallbacks.includes(err.message), `the answer carried no error message: ${err}`);
        }
        return err;
    }
    assert.fail(`expected ${statusCode} ${error}; the call returned ${JSON.stringify(result && result._rawJson || result).slice(0, 300)}`);
}

async function cleanup(t, recordIds) {
    for (let i = 0; i < recordIds.length; i += 10) {
        await t.destroy(recordIds.slice(i, i + 10));
    }
}

function since(index) {
    return SEEN.slice(index);
}

// ------------------------------------------------------------------ select: pages, params

check('select_each_page_and_all', async () => {
    const before = SEEN.length;
    const pages = [];
    await table.select({pageSize: 10}).eachPage((records, next) => {
        pages.push(records.length);
        next();
    });
    assert.deepEqual(pages, [10, 10, 10]);
    const calls = since(before);
    assert.equal(calls.length, 3);
    assert.ok(calls.every(c => c.method === 'GET' && c.url.includes(`/v0/${BASE_ID}/Projects?`)), JSON.stringify(calls));
    assert.ok(calls[1].url.includes('offset='), 'the second page carries the offset');
    const all = await table.select({pageSize: 10}).all();
    assert.equal(all.length, 30);
    assert.equal(new Set(ids(all)).size, 30);
    for (const r of all) {
        assert.match(r.id, /^rec[A-Za-z0-9]{14}$/);
        assert.match(r._rawJson.createdTime, /Z$/);
        assert.ok(Object.keys(r.fields).every(k => FIELD_NAMES.includes(k)), JSON.stringify(r.fields));
    }
    assert.deepEqual(
        sortedNames(all).sort(),
        Array.from({length: 30}, (_, i) => `Project ${String(i + 1).padStart(2, '0')}`)
    );
    assert.deepEqual(new Set(ids(all)), new Set(ids(await seed())));
});

check('first_page_and_max_records', async () => {
    const first = await table.select({pageSize: 7}).firstPage();
    assert.equal(first.length, 7);
    const pages = [];
    await table.select({pageSize: 5, maxRecords: 12}).eachPage((records, next) => {
        pages.push(records.length);
        next();
    });
    assert.deepEqual(pages, [5, 5, 2]);
    assert.equal((await table.select({maxRecords: 3}).all()).length, 3);
    assert.equal((await table.select().all()).length, 30);
});

check('select_fields', async () => {
    const records = await table.select({fields: ['Name', 'Priority']}).all();
    assert.equal(records.length, 30);
    for (const r of records) {
        assert.deepEqual(Object.keys(r.fields).sort(), ['Name', 'Priority']);
    }
});

check('select_sort', async () => {
    const records = await table.select({sort: [{field: 'Priority', direction: 'desc'}, {field: 'Name'}]}).all();
    const got = records.map(r => [r.get('Priority'), r.get('Name')]);
    const want = [...got].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    assert.deepEqual(got, want);
    const top = await table.select({sort: [{field: 'Name', direction: 'desc'}], maxRecords: 3}).all();
    assert.deepEqual(sortedNames(top), ['Project 30', 'Project 29', 'Project 28']);
});

check('select_view', async () => {
    const active = await table.select({view: 'Active projects'}).all();
    assert.deepEqual(new Set(ids(active)), await seedIdsWhere(f => f.Active === true));
    assert.equal(active.length, 20);
    const got = active.map(r => [r.get('Priority'), r.get('Name')]);
    const want = [...got].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? -1 : 1));
    assert.deepEqual(got, want, 'records come in the view order');
    const done = await table.select({view: 'Done'}).all();
    const doneNames = (await seed()).filter(r => r.get('Status') === 'Done').map(r => r.get('Name')).sort();
    assert.deepEqual(sortedNames(done), doneNames);
    // (airtable.js has no schema call: the view's id comes from the meta API directly)
    const schema = await (await realFetch(`${ENDPOINT}/v0/meta/bases/${BASE_ID}/tables`, {
        headers: {authorization: `Bearer ${KEY}`},
    })).json();
    const doneViewId = schema.tables.find(t => t.name === 'Projects').views.find(v => v.name === 'Done').id;
    assert.deepEqual(ids(await table.select({view: doneViewId}).all()), ids(done), 'a view named by id');
    const reversed = await table.select({view: 'Done', sort: [{field: 'Name', direction: 'desc'}]}).all();
    assert.deepEqual(ids(reversed), ids(done).reverse());
});

check('select_filter_by_formula', async () => {
    const cases = [
        ["{Status}='Done'", f => f.Status === 'Done'],
        ["AND({Priority}>=3, {Status}='Todo')", f => f.Priority >= 3 && f.Status === 'Todo'],
        ["OR({Status}='Done', {Priority}=5)", f => f.Status === 'Done' || f.Priority === 5],
        ['NOT({Active})', f => !f.Active],
        ["IS_AFTER({Due}, '2024-10-15')", f => f.Due > '2024-10-15'],
        ["FIND('urgent', ARRAYJOIN({Tags}))", f => (f.Tags || []).includes('urgent')],
        ["REGEX_MATCH({Name}, '0[1-5]$')", f => /0[1-5]$/.test(f.Name)],
        ["LOWER({Owner})='grace@example.com'", f => f.Owner === 'grace@example.com'],
        ['MOD({Priority}, 2)=0', f => f.Priority % 2 === 0],
    ];
    for (const [formula, predicate] of cases) {
        const got = await table.select({filterByFormula: formula}).all();
        assert.deepEqual(new Set(ids(got)), await seedIdsWhere(predicate), formula);
        assert.equal(got.length, (await seedIdsWhere(predicate)).size, formula);
    }
});

check('select_cell_format_string', async () => {
    const records = await table
        .select({cellFormat: 'string', timeZone: 'America/Chicago', userLocale: 'en-us', sort: [{field: 'Name'}]})
        .all();
    assert.equal(records.length, 30);
    const raw = new Map((await seed()).map(r => [r.get('Name'), r.fields]));
    for (const r of records) {
        const f = raw.get(r.get('Name'));
        assert.ok(Object.values(r.fields).every(v => typeof v === 'string'), JSON.stringify(r.fields));
        assert.equal(r.get('Priority'), String(f.Priority));
        assert.equal(r.get('Due'), f.Due);
        assert.equal(r.get('Tags'), f.Tags.join(', '));
        if (f.Active) assert.ok(typeof r.get('Active') === 'string' && r.get('Active').length > 0, JSON.stringify(r.fields));
    }
    await expectError(table.select({cellFormat: 'string'}).all(), {
        statusCode: 422, error: 'INVALID_REQUEST_UNKNOWN', serverMessage: true,
    });
});

check('select_return_fields_by_field_id', async () => {
    const records = await table.select({returnFieldsByFieldId: true, sort: [{field: 'Name'}]}).all();
    assert.equal(records.length, 30);
    const raw = new Map((await seed()).map(r => [r.id, r.fields]));
    for (const r of records) {
        const keys = Object.keys(r.fields);
        assert.ok(keys.every(k => /^fld[A-Za-z0-9]{14}$/.test(k)), JSON.stringify(r.fields));
        assert.deepEqual(Object.values(r.fields).sort(), Object.values(raw.get(r.id)).sort());
    }
});

check('select_method_post_uses_list_records', async () => {
    const params = {
        method: 'post',
        pageSize: 4,
        filterByFormula: "{Status}!='Done'",
        sort: [{field: 'Priority', direction: 'desc'}, {field: 'Name', direction: 'asc'}],
        fields: ['Name', 'Priority', 'Status'],
        view: 'Grid view',
    };
    const before = SEEN.length;
    const pages = [];
    await table.select(params).eachPage((records, next) => {
        pages.push(records);
        next();
    });
    const calls = since(before);
    assert.ok(calls.length === 5 && calls.every(c => c.method === 'POST' && c.url.includes(`/v0/${BASE_ID}/Projects/listRecords`)),
        JSON.stringify(calls));
    assert.equal(JSON.parse(calls[0].body).method, 'post', 'airtable.js sends "method":"post" in the body');
    assert.ok(JSON.parse(calls[1].body).offset, 'the next page posts the offset');
    const viaPost = pages.flat();
    const viaGet = await table.select({...params, method: 'get'}).all();
    assert.equal(viaPost.length, 20);
    assert.deepEqual(ids(viaPost), ids(viaGet));
    assert.deepEqual(viaPost.map(r => r.fields), viaGet.map(r => r.fields));

    const strings = await table.select({
        method: 'post', cellFormat: 'string', timeZone: 'Europe/Paris', userLocale: 'fr',
        returnFieldsByFieldId: true, maxRecords: 3, sort: [{field: 'Name'}],
    }).all();
    const last = SEEN[SEEN.length - 1];
    assert.ok(last.url.includes('timeZone=Europe%2FParis') && last.url.includes('userLocale=fr'), last.url);
    assert.equal(strings.length, 3);
    assert.ok(strings.every(r => Object.entries(r.fields).every(([k, v]) => k.startsWith('fld') && typeof v === 'string')));
    const first = await table.select({method: 'post', maxRecords: 1, sort: [{field: 'Name'}]}).firstPage();
    assert.deepEqual(sortedNames(first), ['Project 01']);
});

check('long_formula_is_sent_by_post', async () => {
    const wanted = ids(await seed()).slice(0, 6);
    const clauses = wanted.map(id => `RECORD_ID()='${id}'`);
    // under any formula-length bound (~11,000 characters), but over airtable.js's 15,000-character URL limit
    // once encoded, so the client switches to POST …/listRecords by itself
    for (let i = 0; encodeURIComponent(clauses.join(',')).replace(/%20/g, '+').length < 15500; i++) {
        clauses.push(`{Name}='No such ${i}'`);
    }
    assert.ok(clauses.join(',').length < 12000, clauses.join(',').length);
    const before = SEEN.length;
    const got = await table.select({filterByFormula: `OR(${clauses.join(',')})`, pageSize: 4}).all();
    const calls = since(before);
    assert.ok(calls.length === 2 && calls.every(c => c.method === 'POST' && c.url.includes('/listRecords')), JSON.stringify(calls.map(c => c.url)));
    assert.deepEqual(new Set(ids(got)), new Set(wanted));
});

check('select_errors', async () => {
    await expectError(table.select({filterByFormula: 'AND({Name}, '}).all(), {
        statusCode: 422, error: 'INVALID_FILTER_BY_FORMULA', serverMessage: true,
    });
    await expectError(table.select({fields: ['No such field']}).all(), {
        statusCode: 422, error: 'UNKNOWN_FIELD_NAME', serverMessage: true,
    });
    await expectError(table.select({view: 'No such view'}).all(), {
        statusCode: 422, error: 'VIEW_NAME_NOT_FOUND', serverMessage: true,
    });
    await expectError(table.select({sort: [{field: 'No such field'}]}).all(), {
        statusCode: 422, error: 'UNKNOWN_FIELD_NAME', serverMessage: true,
    });
    await expectError(base('No such table').select().all(), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
});

// ------------------------------------------------------------------ find

check('find_returns_exactly_the_record_asked_for', async () => {
    const records = await seed();
    for (const wanted of [records[0], records[1], records[17], records[0]]) {
        const got = await table.find(wanted.id);
        assert.equal(got.id, wanted.id);
        assert.deepEqual(got.fields, wanted.fields);
        assert.equal(got._rawJson.createdTime, wanted._rawJson.createdTime);
    }
    const byId = base('tblProjects000001');
    assert.deepEqual((await byId.find(records[3].id)).fields, records[3].fields);
    const err = await expectError(table.find('rec' + 'Z'.repeat(14)), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
    assert.ok(err.toString().includes('[Http code 404]'), err.toString());
});

check('callbacks_static_configure_and_make_request', async () => {
    const wanted = (await seed())[2];
    const viaCallback = await new Promise((resolve, reject) =>
        table.find(wanted.id, (err, record) => (err ? reject(err) : resolve(record))));
    assert.deepEqual(viaCallback.fields, wanted.fields);
    const page = await new Promise((resolve, reject) =>
        table.select({pageSize: 3}).firstPage((err, records) => (err ? reject(err) : resolve(records))));
    assert.equal(page.length, 3);
    const failure = await new Promise(resolve => table.find('rec' + 'Z'.repeat(14), err => resolve(err)));
    assert.equal(failure.statusCode, 404);

    Airtable.configure({apiKey: KEY, endpointUrl: ENDPOINT});
    const staticBase = Airtable.base(BASE_ID);
    assert.equal((await staticBase.table('Projects').select({maxRecords: 2}).all()).length, 2);

    const response = await base.makeRequest({path: '/Projects', qs: {pageSize: 2, 'fields[]': ['Name']}});
    assert.equal(response.statusCode, 200);
    assert.equal(response.body.records.length, 2);
    assert.ok(response.body.offset, 'more pages follow');
    assert.deepEqual(Object.keys(response.body.records[0].fields), ['Name']);
    await assert.rejects(base.makeRequest({path: '/Projects/rec' + 'Z'.repeat(14)}), err => err.statusCode === 404);
});

// ------------------------------------------------------------------ writes

check('create_update_replace_destroy_one', async () => {
    const made = [];
    try {
        const before = SEEN.length;
        const created = await table.create({Name: `One ${RUN}`, Priority: 1, Tags: ['client'], Due: '2025-02-03'});
        made.push(created.id);
        assert.equal(since(before)[0].method, 'POST');
        assert.ok(since(before)[0].url.includes(`/v0/${BASE_ID}/Projects/?`), 'airtable.js posts to the table with a trailing slash');
        assert.match(created.id, /^rec/);
        assert.deepEqual(created.fields, {Name: `One ${RUN}`, Priority: 1, Tags: ['client'], Due: '2025-02-03'});
        assert.deepEqual((await table.find(created.id)).fields, created.fields);

        const updated = await table.update(created.id, {Priority: 4, Active: true});
        assert.deepEqual(updated.fields, {...created.fields, Priority: 4, Active: true});
        const replaced = await table.replace(created.id, {Name: `Replaced ${RUN}`});
        assert.deepEqual(replaced.fields, {Name: `Replaced ${RUN}`});
        assert.deepEqual((await table.find(created.id)).fields, {Name: `Replaced ${RUN}`});

        // Record methods
        const record = await table.find(created.id);
        await record.updateFields({Notes: 'via record'});
        assert.equal(record.get('Notes'), 'via record');
        await record.replaceFields({Name: `Record ${RUN}`, Priority: 2});
        assert.deepEqual(record.fields, {Name: `Record ${RUN}`, Priority: 2});
        record.set('Priority', 3);
        await record.save();
        await record.fetch();
        assert.deepEqual(record.fields, {Name: `Record ${RUN}`, Priority: 3});

        const destroyed = await table.destroy(created.id);
        made.pop();
        assert.equal(destroyed.id, created.id);
        await expectError(table.find(created.id), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
        await expectError(table.update(created.id, {Priority: 1}), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
        await expectError(table.destroy(created.id), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});

        const viaRecord = await table.create({Name: `Doomed ${RUN}`});
        made.push(viaRecord.id);
        await viaRecord.destroy();
        made.pop();
        await expectError(table.find(viaRecord.id), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
    } finally {
        await cleanup(table, made);
    }
});

check('create_update_replace_destroy_arrays', async () => {
    const made = [];
    try {
        const before = SEEN.length;
        const created = await table.create(
            Array.from({length: 10}, (_, i) => ({fields: {Name: `Many ${i} ${RUN}`, Priority: (i % 5) + 1}}))
        );
        made.push(...ids(created));
        assert.equal(created.length, 10);
        assert.deepEqual(sortedNames(created), Array.from({length: 10}, (_, i) => `Many ${i} ${RUN}`), 'order is kept');
        assert.ok(since(before)[0].url.includes(`/Projects/?`));
        const plain = await table.create([{fields: {Name: `Plain ${RUN}`}}], {typecast: false});
        made.push(...ids(plain));
        assert.deepEqual(plain[0].fields, {Name: `Plain ${RUN}`});

        const updated = await table.update(created.slice(0, 5).map((r, i) => ({id: r.id, fields: {Notes: `n${i}`}})));
        assert.deepEqual(ids(updated), ids(created.slice(0, 5)));
        assert.ok(updated.every((r, i) => r.get('Notes') === `n${i}` && r.get('Name') === `Many ${i} ${RUN}`));
        const beforeReplace = SEEN.length;
        const replaced = await table.replace(created.slice(0, 3).map((r, i) => ({id: r.id, fields: {Name: `R${i} ${RUN}`}})));
        const put = since(beforeReplace)[0];
        assert.ok(put.method === 'PUT' && put.url.includes(`/Projects/?`), JSON.stringify(put));
        assert.deepEqual(replaced.map(r => r.fields), [0, 1, 2].map(i => ({Name: `R${i} ${RUN}`})));
        assert.deepEqual((await table.find(created[0].id)).fields, {Name: `R0 ${RUN}`});

        const mine = await table.select({filterByFormula: `FIND('${RUN}', {Name})`}).all();
        assert.deepEqual(new Set(ids(mine)), new Set(made));

        const beforeDestroy = SEEN.length;
        const destroyed = await table.destroy(made.slice(0, 10));
        assert.deepEqual(ids(destroyed), made.slice(0, 10));
        assert.ok(since(beforeDestroy)[0].url.includes('records%5B%5D='), since(beforeDestroy)[0].url);
        const rest = made.splice(0);
        await table.destroy(rest.slice(10));
        assert.deepEqual(await table.select({filterByFormula: `FIND('${RUN}', {Name})`}).all(), []);
        assert.equal((await table.select().all()).length, 30);
    } finally {
        await cleanup(table, made);
    }
});

check('reads_after_writes_are_fresh', async () => {
    const marker = `fresh ${RUN}`;
    const query = () => table.select({filterByFormula: `{Notes}='${marker}'`, fields: ['Name', 'Notes']}).all();
    assert.deepEqual(await query(), []); // now cached, if the runner caches
    const record = await table.create({Name: `Fresh ${RUN}`, Notes: marker});
    try {
        assert.deepEqual(ids(await query()), [record.id], 'a cached list hid a created record');
        await table.update(record.id, {Notes: 'moved on'});
        assert.deepEqual(await query(), [], 'a cached list kept an updated record');
        assert.equal((await table.find(record.id)).get('Notes'), 'moved on', 'a cached find answered the old record');
        await table.update([{id: record.id, fields: {Notes: marker}}]);
        assert.deepEqual(ids(await query()), [record.id]);
    } finally {
        await table.destroy(record.id);
    }
    assert.deepEqual(await query(), [], 'a cached list kept a deleted record');
    await expectError(table.find(record.id), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
});

check('typecast', async () => {
    const made = [];
    try {
        await expectError(table.create({Name: `T ${RUN}`, Status: `New ${RUN}`}), {
            statusCode: 422, error: 'INVALID_MULTIPLE_CHOICE_OPTIONS', serverMessage: true,
        });
        await expectError(table.create({Name: `T ${RUN}`, Priority: '8'}), {
            statusCode: 422, error: 'INVALID_VALUE_FOR_COLUMN', serverMessage: true,
        });
        const created = await table.create({Name: `T ${RUN}`, Priority: '8', Status: `New ${RUN}`}, {typecast: true});
        made.push(created.id);
        assert.equal(created.get('Priority'), 8);
        assert.equal(created.get('Status'), `New ${RUN}`);
        const body = JSON.parse(SEEN[SEEN.length - 1].body);
        assert.equal(body.typecast, true);
        const many = await table.create([{fields: {Name: `T2 ${RUN}`, Priority: '2'}}], {typecast: true});
        made.push(...ids(many));
        assert.equal(many[0].get('Priority'), 2);
        const updated = await table.update(created.id, {Priority: '3'}, {typecast: true});
        assert.equal(updated.get('Priority'), 3);
        const batch = await table.update([{id: many[0].id, fields: {Priority: '5'}}], {typecast: true});
        assert.equal(batch[0].get('Priority'), 5);
        const replaced = await table.replace(created.id, {Name: `T ${RUN}`, Priority: '7'}, {typecast: true});
        assert.deepEqual(replaced.fields, {Name: `T ${RUN}`, Priority: 7});
        assert.equal(
            (await table.select({filterByFormula: `{Status}='New ${RUN}'`}).all()).length,
            0,
            'the replace cleared Status'
        );
    } finally {
        await cleanup(table, made);
    }
});

check('write_errors', async () => {
    const unknown = await expectError(table.create({Name: `E ${RUN}`, 'No such field': 1}), {
        statusCode: 422, error: 'UNKNOWN_FIELD_NAME', serverMessage: true,
    });
    assert.ok(unknown.message.includes('No such field'), unknown.message);
    await expectError(table.create([{fields: {Name: `E ${RUN}`}}, {fields: {Bogus: 1}}]), {
        statusCode: 422, error: 'UNKNOWN_FIELD_NAME', serverMessage: true,
    });
    await expectError(table.create({Name: `E ${RUN}`, Active: 'yes'}), {
        statusCode: 422, error: 'INVALID_VALUE_FOR_COLUMN', serverMessage: true,
    });
    await expectError(table.update([{id: 'rec' + 'Y'.repeat(14), fields: {Priority: 1}}]), {
        statusCode: 404, error: 'NOT_FOUND', serverMessage: true,
    });
    await expectError(table.destroy(['rec' + 'Y'.repeat(14)]), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
    await expectError(base('No such table').create({Name: 'x'}), {statusCode: 404, error: 'NOT_FOUND', serverMessage: true});
    await expectError(airtable.base('app' + 'Q'.repeat(14))('Projects').select().all(), {
        statusCode: 403, error: 'NOT_AUTHORIZED',
    });
    assert.deepEqual(await table.select({filterByFormula: `FIND('E ${RUN}', {Name})`}).all(), []);
});

check('bad_token_is_401', async () => {
    const bad = new Airtable({apiKey: 'not-a-real-token', endpointUrl: ENDPOINT, noRetryIfRateLimited: true});
    const badTable = bad.base(BASE_ID)('Projects');
    const someId = (await seed())[0].id;
    const before = SEEN.length;
    await expectError(badTable.select().all(), {statusCode: 401, error: 'AUTHENTICATION_REQUIRED'});
    await expectError(badTable.find(someId), {statusCode: 401, error: 'AUTHENTICATION_REQUIRED'});
    await expectError(badTable.create({Name: 'x'}), {statusCode: 401, error: 'AUTHENTICATION_REQUIRED'});
    await expectError(badTable.destroy(['rec' + 'Y'.repeat(14)]), {statusCode: 401, error: 'AUTHENTICATION_REQUIRED'});
    assert.equal(since(before).length, 4, 'one request per call, no retries');
    // the 401 answer itself is Airtable's shape, which airtable.js's makeRequest passes through
    const response = await realFetch(`${ENDPOINT}/v0/${BASE_ID}/Projects`, {headers: {authorization: 'Bearer nope'}});
    assert.equal(response.status, 401);
    const body = await response.json();
    assert.equal(body.error.type, 'AUTHENTICATION_REQUIRED', JSON.stringify(body));
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 0, JSON.stringify(body));
});

check('record_metadata_comment_count', async () => {
    const records = await table.select({recordMetadata: ['commentCount'], maxRecords: 5}).all();
    assert.equal(records.length, 5);
    assert.ok(records.every(r => Number.isInteger(r.commentCount)), JSON.stringify(records.map(r => r._rawJson)));
    const plain = await table.select({maxRecords: 1}).all();
    assert.equal(plain[0].commentCount, undefined);
});

// ------------------------------------------------------------------ last: requests that once crashed the runner

check('deeply_nested_formula_is_refused_and_the_server_survives', async () => {
    await expectError(table.select({filterByFormula: '('.repeat(1600) + '1' + ')'.repeat(1600)}).all(), {
        statusCode: 422, error: 'INVALID_FILTER_BY_FORMULA', serverMessage: true,
    });
    await expectError(table.select({method: 'post', filterByFormula: '-'.repeat(20000) + '1'}).all(), {
        statusCode: 422, error: 'INVALID_FILTER_BY_FORMULA', serverMessage: true,
    });
    assert.equal((await table.select({maxRecords: 2}).all()).length, 2, 'the runner still answers');
});

// ------------------------------------------------------------------ run

async function main() {
    const passed = [];
    const failed = [];
    const seconds = {};
    for (const {name, fn} of CHECKS) {
        const started = Date.now();
        try {
            await fn();
            passed.push(name);
        } catch (err) {
            const last = SEEN[SEEN.length - 1];
            const request = last ? `\n  last request: ${last.method} ${last.url} ${(last.body || '').slice(0, 300)}` : '';
            const detail = (err && err.stack ? err.stack : String(err)) + request;
            failed.push({check: name, error: detail.slice(0, 2000)});
            process.stderr.write(`FAILED ${name}:\n${detail}\n`);
        }
        seconds[name] = (Date.now() - started) / 1000;
    }
    process.stdout.write(
        JSON.stringify({client: 'airtable.js', version: VERSION, checks: CHECKS.length, passed, failed, seconds}) + '\n'
    );
    process.exitCode = failed.length ? 1 : 0;
}

main();
