//! The gateway's core, shared by both surfaces: reads through the cache (single-flight, stale-if-error),
//! writes straight upstream (then invalidating the table), everything paced by the limiter.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use platform::Caller;
use storage::cache::Cache;
use tracing::Instrument;

use crate::cache::{CacheStatus, Kind, ReadCache, ReadKey};
use crate::credentials::{Credential, CredentialResolver, no_such_base};
use crate::error::{Failure, GatewayError};
use crate::flight::{Flights, Seen};
use crate::ids::{BaseId, TableRef};
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::query::canonical;
use crate::settings::AirtableSettings;
use crate::upstream::{Upstream, UpstreamRequest};

/// A read, as both surfaces describe it.
pub struct Read {
    pub kind: Kind,
    pub base: Option<BaseId>,
    pub table: Option<TableRef>,
    pub segments: Vec<String>,
    /// Normalised parameters: the cache key and the upstream query.
    pub query: Vec<(String, String)>,
}

/// What the client accepts: `Cache-Control: no-cache` bypasses the cache; `max-age=N` limits the age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freshness {
    pub bypass: bool,
    pub max_age: Option<Duration>,
}

pub struct ReadOutcome {
    pub body: Bytes,
    pub status: CacheStatus,
    pub age: Duration,
}

pub struct Write {
    pub base: BaseId,
    pub table: TableRef,
    pub request: UpstreamRequest,
}

#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    upstream: Upstream,
    cache: ReadCache,
    flights: Flights,
    credentials: Arc<dyn CredentialResolver>,
    metrics: Arc<Metrics>,
    fill_budget: Duration,
}

impl Gateway {
    /// `namespace` prefixes every cache key (one Redis may serve several stacks).
    pub fn new(
        settings: &AirtableSettings,
        cache: Arc<dyn Cache>,
        namespace: &str,
        credentials: Arc<dyn CredentialResolver>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let limiter = Limiter::new(cache.clone(), namespace, settings, metrics.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                upstream: Upstream::new(settings, limiter, metrics.clone())?,
                cache: ReadCache::new(cache, namespace, settings),
                flights: Flights::default(),
                credentials,
                metrics,
                fill_budget: settings.fill_budget(),
            }),
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    #[tracing::instrument(skip_all, fields(kind = ?read.kind, base = ?read.base, tenant = %caller.tenant_id))]
    pub async fn read(&self, caller: &Caller, read: Read, freshness: Freshness) -> Result<ReadOutcome, Failure> {
        let inner = &self.inner;
        let request = upstream_read(&read);
        let resolved = inner.credentials.resolve(caller, &request).await?;
        let Some(tables) = resolved.only_tables else {
            return self.read_as(caller, resolved.credential, read, request, freshness).await;
        };
        // The caller reads some tables of the base only: the schema shows those; a table named by name
        // must be one of them.
        let base = read.base.clone().ok_or_else(|| Arc::new(no_such_base()))?;
        if read.kind == Kind::Schema {
            let mut outcome = self.read_as(caller, resolved.credential, read, request, freshness).await?;
            outcome.body = only_these_tables(&outcome.body, &tables)?;
            return Ok(outcome);
        }
        self.permit_by_name(caller, &resolved.credential, &base, &request, &tables).await?;
        self.read_as(caller, resolved.credential, read, request, freshness).await
    }

    /// Refuses a request naming its table by name unless the base's schema (read through the cache with the
    /// caller's own credential) gives that name to one of `tables` (ids).
    async fn permit_by_name(
        &self,
        caller: &Caller,
        credential: &Arc<Credential>,
        base: &BaseId,
        request: &UpstreamRequest,
        tables: &BTreeSet<String>,
    ) -> Result<(), Failure> {
        let Some(name) = crate::credentials::need(request).and_then(|need| need.table.map(str::to_string)) else {
            return Err(Arc::new(no_such_base()));
        };
        let schema = crate::requests::schema(base, Vec::new());
        let request = upstream_read(&schema);
        let outcome = self.read_as(caller, credential.clone(), schema, request, Freshness::default()).await?;
        let visible = only_these_tables(&outcome.body, tables)?;
        let named = serde_json::from_slice::<serde_json::Value>(&visible)
            .ok()
            .and_then(|schema| {
                schema["tables"].as_array().map(|all| all.iter().any(|t| t["name"].as_str() == Some(name.as_str())))
            })
            .unwrap_or(false);
        if named { Ok(()) } else { Err(Arc::new(no_such_base())) }
    }

    /// A read with a credential already decided on.
    async fn read_as(
        &self,
        caller: &Caller,
        credential: Arc<Credential>,
        read: Read,
        request: UpstreamRequest,
        freshness: Freshness,
    ) -> Result<ReadOutcome, Failure> {
        let inner = &self.inner;
        let key = cache_key(&inner.cache, &scope(&caller.tenant_id, credential.identity()), &read).await;
        if freshness.bypass {
            let body = gateway_send(self, caller, &credential, &request).await?;
            inner.cache.put(&key, read.kind, &body).await;
            return Ok(self.answer(&read, body, CacheStatus::Bypass, Duration::ZERO));
        }

        let started_ms = storage::now_millis();
        let cached = inner.cache.get(&key).await;
        let fresh_for = inner.cache.ttl(read.kind).min(freshness.max_age.unwrap_or(Duration::MAX));
        if let Some(entry) = cached.as_ref().filter(|e| e.age(started_ms) < fresh_for) {
            return Ok(self.answer(&read, entry.body.clone(), CacheStatus::Hit, entry.age(started_ms)));
        }
        let seen = Seen { started_ms, stored_at_ms: cached.as_ref().map(|e| e.stored_at_ms) };
        // The fill runs as its own task (it outlives a client that hangs up); it logs under this request, and
        // its upstream call counts for this request's tenant.
        let (gateway, fill_key, kind, fill_caller) = (self.clone(), key.clone(), read.kind, caller.clone());
        let fill = async move {
            let inner = &gateway.inner;
            let fetch = async { Ok(gateway_send(&gateway, &fill_caller, &credential, &request).await?) };
            crate::flight::fill(&inner.cache, &fill_key, kind, inner.fill_budget, seen, fetch).await
        }
        .in_current_span();
        let fill = platform::usage::carry(fill);
        match inner.flights.run(&key, fill).await {
            (Ok(body), true) => Ok(self.answer(&read, body, CacheStatus::Miss, Duration::ZERO)),
            (Ok(body), false) => Ok(self.answer(&read, body, CacheStatus::Hit, Duration::ZERO)),
            (Err(e), _) => {
                let now = storage::now_millis();
                let usable = inner.cache.ttl(read.kind) + inner.cache.max_stale();
                match cached.filter(|entry| e.serves_stale() && entry.age(now) <= usable) {
                    Some(entry) => {
                        tracing::warn!(error = %e, age_ms = entry.age(now).as_millis(), "Airtable failed; serving a stale copy");
                        let age = entry.age(now);
                        Ok(self.answer(&read, entry.body, CacheStatus::Stale, age))
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// The bases the caller may reach, when the resolver knows them (always, outside the crate's unit tests).
    pub async fn visible_bases(
        &self,
        caller: &Caller,
    ) -> Result<Option<Vec<crate::credentials::VisibleBase>>, Failure> {
        Ok(self.inner.credentials.bases(caller).await?)
    }

    /// A page of Airtable's list of bases: from the bases linked in the caller's tenant that it may reach
    /// (one page: a tenant links far fewer than Airtable's 1,000 a page), never upstream.
    pub async fn bases_page(
        &self,
        caller: &Caller,
        offset: Option<String>,
        freshness: Freshness,
    ) -> Result<ReadOutcome, Failure> {
        let Some(bases) = self.visible_bases(caller).await? else {
            return self.read(caller, crate::requests::bases(offset), freshness).await;
        };
        if offset.is_some() {
            return Err(Arc::new(GatewayError::Invalid {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                kind: "INVALID_OFFSET_VALUE",
                message: "The offset is invalid".into(),
            }));
        }
        let bases: Vec<serde_json::Value> = bases
            .iter()
            .map(|b| serde_json::json!({ "id": b.id, "name": b.name, "permissionLevel": b.permission_level() }))
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "bases": bases }))
            .map_err(|e| Arc::new(GatewayError::Unexpected(e.into())))?;
        Ok(ReadOutcome { body: Bytes::from(body), status: CacheStatus::Bypass, age: Duration::ZERO })
    }

    /// After a write whose table is unknown (e.g. uploadAttachment names only the record): every cached
    /// table read of the base is dropped.
    pub async fn invalidate_base(&self, base: &BaseId) {
        self.inner.cache.invalidate_base(base).await;
    }

    /// Sends one request upstream (through the limiter, with the upstream's retries for reads) and nothing
    /// else: no cache, no invalidation. For what is never cached and changes no cached read (webhooks,
    /// comment reads).
    #[tracing::instrument(skip_all, fields(method = %request.method, base = ?request.base, tenant = %caller.tenant_id))]
    pub async fn send(&self, caller: &Caller, request: UpstreamRequest) -> Result<Bytes, Failure> {
        let credential = self.decide(caller, &request).await?;
        Ok(gateway_send(self, caller, &credential, &request).await?)
    }

    /// Whether the caller may send `request` (the gateway's decision, before anything is sent): for routes
    /// that must refuse before doing work of their own.
    pub async fn permits(&self, caller: &Caller, request: &UpstreamRequest) -> Result<(), Failure> {
        self.decide(caller, request).await.map(drop)
    }

    /// After a write that may change the base's schema (meta writes; typecast record writes are handled
    /// by [`Gateway::write`] itself): the base's cached schema is dropped.
    pub async fn invalidate_schema(&self, base: &BaseId) {
        self.inner.cache.invalidate_schema(base).await;
    }

    /// The credential for a request that is not a cached read: a table named by name is checked against the
    /// schema when the caller holds table grants only.
    async fn decide(&self, caller: &Caller, request: &UpstreamRequest) -> Result<Arc<Credential>, Failure> {
        let resolved = self.inner.credentials.resolve(caller, request).await?;
        if let Some(tables) = &resolved.only_tables {
            let base =
                request.segments.get(1).and_then(|b| BaseId::parse(b)).ok_or_else(|| Arc::new(no_such_base()))?;
            self.permit_by_name(caller, &resolved.credential, &base, request, tables).await?;
        }
        Ok(resolved.credential)
    }

    fn answer(&self, read: &Read, body: Bytes, status: CacheStatus, age: Duration) -> ReadOutcome {
        self.inner.metrics.cache(status, read.base.as_ref());
        ReadOutcome { body, status, age }
    }

    /// Sends a write upstream, then invalidates the table's cached reads (also when the outcome is unknown:
    /// a timeout or a 5xx may still have changed the table).
    #[tracing::instrument(skip_all, fields(method = %write.request.method, base = %write.base, tenant = %caller.tenant_id))]
    pub async fn write(&self, caller: &Caller, write: Write) -> Result<Bytes, Failure> {
        let inner = &self.inner;
        let credential = self.decide(caller, &write.request).await?;
        let outcome = gateway_send(self, caller, &credential, &write.request).await;
        let may_have_changed = match &outcome {
            Ok(_) | Err(GatewayError::Unavailable { .. }) => true,
            Err(GatewayError::Upstream { status, .. }) => status.is_server_error(),
            Err(_) => false,
        };
        if may_have_changed {
            inner.cache.invalidate(&write.base, &write.table).await;
            // With typecast, Airtable may add select options: the schema changed too.
            if write.request.body.as_deref().is_some_and(typecasts) {
                inner.cache.invalidate_schema(&write.base).await;
            }
        }
        Ok(outcome?)
    }
}

/// The GET a read sends upstream.
fn upstream_read(read: &Read) -> UpstreamRequest {
    UpstreamRequest {
        method: axum::http::Method::GET,
        segments: read.segments.clone(),
        query: read.query.clone(),
        body: None,
        base: read.base.clone(),
        read: true,
    }
}

/// A schema (`{"tables": [...]}`) showing only `tables` (ids).
fn only_these_tables(body: &Bytes, tables: &BTreeSet<String>) -> Result<Bytes, Failure> {
    let mut schema: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Arc::new(GatewayError::Unexpected(e.into())))?;
    if let Some(all) = schema.get_mut("tables").and_then(serde_json::Value::as_array_mut) {
        all.retain(|t| t["id"].as_str().is_some_and(|id| tables.contains(id)));
    }
    let body = serde_json::to_vec(&schema).map_err(|e| Arc::new(GatewayError::Unexpected(e.into())))?;
    Ok(Bytes::from(body))
}

/// Sends upstream; when Airtable refuses the credential (401) and its connection can renew it (OAuth, expired
/// or revoked early), sends once more with the renewed one. A 401 means nothing was done, so a write may be
/// sent again.
async fn gateway_send(
    gateway: &Gateway,
    caller: &Caller,
    credential: &crate::credentials::Credential,
    request: &UpstreamRequest,
) -> Result<Bytes, GatewayError> {
    let inner = &gateway.inner;
    match inner.upstream.send(credential, request).await {
        Err(GatewayError::Upstream { status, body, retry_after }) if status == axum::http::StatusCode::UNAUTHORIZED => {
            match inner.credentials.renew(caller, request, credential).await? {
                Some(fresh) => inner.upstream.send(&fresh, request).await,
                None => Err(GatewayError::Upstream { status, body, retry_after }),
            }
        }
        other => other,
    }
}

/// Whose view of Airtable a read is: the tenant and the credential the gateway uses for it.
pub(crate) fn scope(tenant: &str, credential_identity: &str) -> String {
    format!("{tenant}\u{0}{credential_identity}")
}

/// The cache key of a read: every input that changes Airtable's answer (see [`crate::cache`]).
pub(crate) async fn cache_key(cache: &ReadCache, scope: &str, read: &Read) -> String {
    let query = canonical(&read.query);
    let parts = ReadKey {
        kind: read.kind,
        scope,
        base: read.base.as_ref(),
        table: read.table.as_ref(),
        segments: &read.segments,
        query: &query,
    };
    cache.key(&parts).await
}

/// Whether a write body asks Airtable to typecast (`"typecast": true`).
fn typecasts(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("typecast") == Some(&serde_json::Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ids::RecordId;
    use crate::query::{ListQuery, QueryError, RenderOptions, parse_pairs};
    use crate::requests;

    const TENANT: &str = "tenant-a";
    const CREDENTIAL: &str = "cred-a";

    fn base(id: &str) -> BaseId {
        BaseId::parse(id).unwrap()
    }

    fn table(name: &str) -> TableRef {
        TableRef::parse(name).unwrap()
    }

    fn list(query: &str) -> ListQuery {
        ListQuery::from_pairs(&parse_pairs(Some(query)), |k, _| Err(QueryError(format!("unknown {k}")))).unwrap()
    }

    fn render(query: &str) -> RenderOptions {
        RenderOptions::from_pairs(&parse_pairs(Some(query))).unwrap()
    }

    fn records(query: &str) -> Read {
        requests::records(&base("appDemoBase000001"), &table("Projects"), &list(query))
    }

    fn record(id: &str, query: &str) -> Read {
        requests::record(&base("appDemoBase000001"), &table("Projects"), &RecordId::parse(id).unwrap(), &render(query))
    }

    fn schema(base_id: &str, query: &str) -> Read {
        requests::schema(&base(base_id), parse_pairs(Some(query)))
    }

    struct Keys(ReadCache);

    impl Keys {
        fn new() -> Self {
            let settings = AirtableSettings::new("http://x", None);
            Self(ReadCache::new(Arc::new(storage::cache::embedded::MemoryCache::new()), "ns-", &settings))
        }

        async fn of(&self, read: &Read) -> String {
            self.as_of(TENANT, CREDENTIAL, read).await
        }

        async fn as_of(&self, tenant: &str, credential: &str, read: &Read) -> String {
            cache_key(&self.0, &scope(tenant, credential), read).await
        }

        /// Two reads differing in exactly one input: their keys differ.
        async fn differ(&self, what: &str, a: Read, b: Read) {
            assert_ne!(self.of(&a).await, self.of(&b).await, "{what}: different answers must not share a key");
        }

        /// Two ways of asking the same question: one key.
        async fn same(&self, what: &str, a: Read, b: Read) {
            assert_eq!(self.of(&a).await, self.of(&b).await, "{what}: the same answer should share a key");
        }
    }

    #[tokio::test]
    async fn every_input_that_changes_airtables_answer_changes_the_key() {
        let keys = Keys::new();
        // Records: one pair per list parameter.
        let records_pairs = [
            ("pageSize", "pageSize=10", "pageSize=20"),
            ("pageSize present", "", "pageSize=10"),
            ("maxRecords", "maxRecords=5", "maxRecords=6"),
            ("offset", "offset=itr1/recA", "offset=itr1/recB"),
            ("view", "view=Grid", "view=Kanban"),
            ("fields[]", "fields[]=Name", "fields[]=Notes"),
            ("fields[] count", "fields[]=Name", "fields[]=Name&fields[]=Notes"),
            ("sort field", "sort[0][field]=Name", "sort[0][field]=Notes"),
            ("sort direction", "sort[0][field]=Name", "sort[0][field]=Name&sort[0][direction]=desc"),
            ("sort order", "sort[0][field]=A&sort[1][field]=B", "sort[0][field]=B&sort[1][field]=A"),
            ("filterByFormula", "filterByFormula={Name}='a'", "filterByFormula={Name}='b'"),
            (
                "cellFormat",
                "cellFormat=json&timeZone=UTC&userLocale=en",
                "cellFormat=string&timeZone=UTC&userLocale=en",
            ),
            ("timeZone", "timeZone=UTC", "timeZone=Europe/Paris"),
            ("userLocale", "userLocale=en", "userLocale=fr"),
            ("returnFieldsByFieldId", "returnFieldsByFieldId=false", "returnFieldsByFieldId=true"),
            ("recordMetadata", "", "recordMetadata[]=commentCount"),
        ];
        for (what, a, b) in records_pairs {
            keys.differ(&format!("records {what}"), records(a), records(b)).await;
        }
        // One record: its id, and each rendering option.
        keys.differ("record id", record("recProj0000000001", ""), record("recProj0000000002", "")).await;
        let record_pairs = [
            (
                "cellFormat",
                "cellFormat=json&timeZone=UTC&userLocale=en",
                "cellFormat=string&timeZone=UTC&userLocale=en",
            ),
            ("timeZone", "timeZone=UTC", "timeZone=Asia/Tokyo"),
            ("userLocale", "userLocale=en", "userLocale=de"),
            ("returnFieldsByFieldId", "", "returnFieldsByFieldId=true"),
        ];
        for (what, a, b) in record_pairs {
            keys.differ(&format!("record {what}"), record("recProj0000000001", a), record("recProj0000000001", b))
                .await;
        }
        // A record and a list never share a key, even with the same parameters.
        keys.differ("record vs list", record("recProj0000000001", ""), records("")).await;
        // Schema: include[] and the base.
        keys.differ(
            "schema include[]",
            schema("appDemoBase000001", ""),
            schema("appDemoBase000001", "include[]=visibleFieldIds"),
        )
        .await;
        keys.differ("schema base", schema("appDemoBase000001", ""), schema("appDemoBase000002", "")).await;
        // Bases: the offset.
        keys.differ("bases offset", requests::bases(None), requests::bases(Some("itrA".into()))).await;
        keys.differ("bases offset value", requests::bases(Some("itrA".into())), requests::bases(Some("itrB".into())))
            .await;
        // Table and base, for lists and for records.
        let (demo, other) = (base("appDemoBase000001"), base("appDemoBase000002"));
        let id = RecordId::parse("recProj0000000001").unwrap();
        let none = RenderOptions::default();
        for (what, a, b) in [
            (
                "table",
                requests::records(&demo, &table("Projects"), &list("")),
                requests::records(&demo, &table("Tasks"), &list("")),
            ),
            (
                "base",
                requests::records(&demo, &table("Projects"), &list("")),
                requests::records(&other, &table("Projects"), &list("")),
            ),
            (
                "record table",
                requests::record(&demo, &table("Projects"), &id, &none),
                requests::record(&demo, &table("Tasks"), &id, &none),
            ),
            (
                "record base",
                requests::record(&demo, &table("Projects"), &id, &none),
                requests::record(&other, &table("Projects"), &id, &none),
            ),
        ] {
            keys.differ(what, a, b).await;
        }
        // Credential and tenant, for every kind.
        for read in
            [requests::bases(None), schema("appDemoBase000001", ""), records(""), record("recProj0000000001", "")]
        {
            let mine = keys.of(&read).await;
            assert_ne!(mine, keys.as_of("tenant-b", CREDENTIAL, &read).await, "tenant");
            assert_ne!(mine, keys.as_of(TENANT, "cred-b", &read).await, "credential");
            // No ambiguity where tenant and credential meet.
            assert_ne!(keys.as_of("ab", "c", &read).await, keys.as_of("a", "bc", &read).await, "scope boundary");
        }
    }

    #[tokio::test]
    async fn the_same_question_asked_differently_shares_one_key() {
        let keys = Keys::new();
        keys.same(
            "parameter order",
            records("pageSize=10&fields[]=Name&sort[0][field]=Name&view=Grid"),
            records("view=Grid&sort[0][field]=Name&fields[]=Name&pageSize=10"),
        )
        .await;
        keys.same(
            "default sort direction",
            records("sort[0][field]=Name"),
            records("sort[0][direction]=asc&sort[0][field]=Name"),
        )
        .await;
        keys.same("default cellFormat", records(""), records("cellFormat=json")).await;
        keys.same(
            "default returnFieldsByFieldId",
            record("recProj0000000001", ""),
            record("recProj0000000001", "returnFieldsByFieldId=false"),
        )
        .await;
        let body = br#"{"pageSize":10,"fields":["Name"],"sort":[{"field":"Name","direction":"desc"}],"filterByFormula":"{Name}='a'"}"#;
        let by_post = requests::records(
            &base("appDemoBase000001"),
            &table("Projects"),
            &ListQuery::from_json(body, &[]).unwrap(),
        );
        keys.same(
            "GET vs POST listRecords",
            records("filterByFormula={Name}='a'&sort[0][direction]=desc&sort[0][field]=Name&fields[]=Name&pageSize=10"),
            by_post,
        )
        .await;
        keys.same(
            "schema include[] order",
            schema("appDemoBase000001", "include[]=a&include[]=b"),
            schema("appDemoBase000001", "include[]=b&include[]=a&include[]=a"),
        )
        .await;
    }

    #[tokio::test]
    async fn a_schema_invalidation_moves_only_that_bases_schema_key_on() {
        let keys = Keys::new();
        let (demo, other) = (schema("appDemoBase000001", ""), schema("appDemoBase000002", ""));
        let (demo_before, other_before, records_before) =
            (keys.of(&demo).await, keys.of(&other).await, keys.of(&records("")).await);
        keys.0.invalidate_schema(&base("appDemoBase000001")).await;
        assert_ne!(keys.of(&demo).await, demo_before);
        assert_eq!(keys.of(&other).await, other_before);
        assert_eq!(keys.of(&records("")).await, records_before, "records keep their cache");
    }

    #[tokio::test]
    async fn a_base_invalidation_moves_every_table_read_of_that_base_on_but_not_its_schema() {
        let keys = Keys::new();
        let by_id = requests::records(&base("appDemoBase000001"), &table("tblProjects000001"), &list(""));
        let reads = [records(""), record("recProj0000000001", ""), by_id];
        let mut before = Vec::new();
        for read in &reads {
            before.push(keys.of(read).await);
        }
        let schema_before = keys.of(&schema("appDemoBase000001", "")).await;
        let other_base = requests::records(&base("appDemoBase000002"), &table("Projects"), &list(""));
        let other_before = keys.of(&other_base).await;
        keys.0.invalidate_base(&base("appDemoBase000001")).await;
        for (read, before) in reads.iter().zip(&before) {
            assert_ne!(&keys.of(read).await, before);
        }
        assert_eq!(keys.of(&schema("appDemoBase000001", "")).await, schema_before);
        assert_eq!(keys.of(&other_base).await, other_before);
    }

    #[test]
    fn only_typecast_true_counts_as_a_typecast_write() {
        assert!(typecasts(br#"{"fields":{},"typecast":true}"#));
        assert!(!typecasts(br#"{"fields":{},"typecast":false}"#));
        assert!(!typecasts(br#"{"fields":{"typecast":true}}"#));
        assert!(!typecasts(b"not json"));
    }
}
