//! The table port on DynamoDB. Items are stored as native attributes (`pk`, `sk`, `gsi1pk`, `gsi1sk`,
//! `version`, `expires_at` as the TTL attribute, then the application attributes), so the table stays
//! readable in the console and usable by other tools.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex, IndexStatus,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::table::{
    Condition, Item, Key, Page, Query, SortKeyRange, Table, WriteOp, validate_item, validate_key, validate_transaction,
};
use crate::{StoreError, StoreResult, now_secs};

type Attrs = HashMap<String, AttributeValue>;

const INDEX: &str = "gsi1";
/// An expired item is absent for conditions, whether or not DynamoDB's sweeper has deleted it yet.
const LIVE: &str = "(attribute_not_exists(expires_at) OR expires_at > :now)";

pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self { client, table: table_name.into() }
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static, what: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([("pk".to_owned(), s(&key.pk)), ("sk".to_owned(), s(&key.sk))])
}

/// A condition as a DynamoDB expression with its values (`None`: unconditional).
fn expression(condition: Condition, now: i64) -> Option<(String, Attrs)> {
    let mut values = HashMap::from([(":now".to_owned(), n(now))]);
    let expr = match condition {
        Condition::Always => return None,
        Condition::MustNotExist => "attribute_not_exists(pk) OR expires_at <= :now".to_owned(),
        Condition::MustExist => format!("attribute_exists(pk) AND {LIVE}"),
        Condition::VersionIs(v) => {
            values.insert(":version".to_owned(), n(v));
            format!("version = :version AND {LIVE}")
        }
    };
    Some((expr, values))
}

fn to_attrs(item: &Item) -> StoreResult<(Attrs, u64)> {
    let version = item.version.checked_add(1).ok_or_else(|| StoreError::Invalid("version overflow".into()))?;
    let mut attrs: Attrs =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(&item.attrs).context("Failed to convert attributes for DynamoDB")?;
    attrs.extend(key_attrs(&item.key));
    if let Some(ix) = &item.index {
        attrs.insert("gsi1pk".to_owned(), s(&ix.pk));
        attrs.insert("gsi1sk".to_owned(), s(&ix.sk));
    }
    attrs.insert("version".to_owned(), n(version));
    if let Some(t) = item.expires_at {
        attrs.insert("expires_at".to_owned(), n(t));
    }
    Ok((attrs, version))
}

fn from_attrs(mut attrs: Attrs) -> anyhow::Result<Item> {
    let mut string = |name: &str| match attrs.remove(name) {
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        None => Ok(None),
        Some(other) => anyhow::bail!("attribute {name} is not a string: {other:?}"),
    };
    let key = Key::new(string("pk")?.context("item without pk")?, string("sk")?.context("item without sk")?);
    let index = match (string("gsi1pk")?, string("gsi1sk")?) {
        (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
        _ => None,
    };
    let mut number = |name: &str| match attrs.remove(name) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().map(Some).with_context(|| format!("attribute {name} is {v:?}")),
        None => Ok(None),
        Some(other) => anyhow::bail!("attribute {name} is not a number: {other:?}"),
    };
    let version = u64::try_from(number("version")?.unwrap_or(0)).context("negative version")?;
    let expires_at = number("expires_at")?;
    let attrs = serde_dynamo::aws_sdk_dynamodb_1::from_item(attrs).context("Failed to convert a DynamoDB item")?;
    Ok(Item { key, index, attrs, version, expires_at })
}

#[async_trait]
impl Table for DynamoTable {
    #[tracing::instrument(skip_all, fields(table = %self.table))]
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        validate_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to get an item"))?;
        let item = out.item.map(from_attrs).transpose()?;
        Ok(item.filter(|i| !i.is_expired_at(now_secs())))
    }

    #[tracing::instrument(skip_all, fields(table = %self.table))]
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
        validate_item(&item)?;
        let (attrs, version) = to_attrs(&item)?;
        let (expr, values) = expression(condition, now_secs()).unzip();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(expr)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Item { version, ..item }),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(unexpected(e, "Failed to put an item")),
        }
    }

    #[tracing::instrument(skip_all, fields(table = %self.table))]
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        validate_key(key)?;
        let (expr, values) = expression(condition, now_secs()).unzip();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(expr)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(unexpected(e, "Failed to delete an item")),
        }
    }

    #[tracing::instrument(skip_all, fields(table = %self.table))]
    async fn query(&self, q: Query) -> StoreResult<Page> {
        self.run_query(q).await
    }

    #[tracing::instrument(skip_all, fields(table = %self.table, ops = ops.len()))]
    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        validate_transaction(&ops)?;
        let now = now_secs();
        let items = ops.iter().map(|op| self.transact_item(op, now)).collect::<StoreResult<Vec<_>>>()?;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(cancelled_by_a_condition) => Err(StoreError::ConditionFailed),
            Err(e) => Err(unexpected(e, "Failed to write a transaction")),
        }
    }

    async fn ready(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to describe the table"))?;
        Ok(())
    }
}

/// Any failed condition cancels the transaction; other reasons (a conflicting concurrent transaction,
/// throttling) are not the caller's condition and stay unexpected.
fn cancelled_by_a_condition(e: &TransactWriteItemsError) -> bool {
    matches!(e, TransactWriteItemsError::TransactionCanceledException(c)
        if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed")))
}

impl DynamoTable {
    fn transact_item(&self, op: &WriteOp, now: i64) -> StoreResult<TransactWriteItem> {
        let builder = TransactWriteItem::builder();
        let builder = match op {
            WriteOp::Put { item, condition } => {
                let (expr, values) = expression(*condition, now).unzip();
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attrs(item)?.0))
                    .set_condition_expression(expr)
                    .set_expression_attribute_values(values)
                    .build();
                builder.put(put.context("Failed to build a transaction put")?)
            }
            WriteOp::Delete { key, condition } => {
                let (expr, values) = expression(*condition, now).unzip();
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(expr)
                    .set_expression_attribute_values(values)
                    .build();
                builder.delete(delete.context("Failed to build a transaction delete")?)
            }
            WriteOp::Check { key, condition } => {
                // DynamoDB requires an expression on a check; `Always` gets a tautology.
                let (expr, values) = expression(*condition, now).unzip();
                let expr = expr.unwrap_or_else(|| "attribute_exists(pk) OR attribute_not_exists(pk)".into());
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .condition_expression(expr)
                    .set_expression_attribute_values(values)
                    .build();
                builder.condition_check(check.context("Failed to build a transaction check")?)
            }
        };
        Ok(builder.build())
    }
}

/// A page boundary: the last item's key in the scanned order, `[partition, sort, pk, sk]` on the index and
/// `[pk, sk, "", ""]` on the table (the same shape as the embedded adapter's).
#[derive(Serialize, Deserialize)]
struct Cursor {
    i: bool,
    k: [String; 4],
}

impl DynamoTable {
    async fn run_query(&self, q: Query) -> StoreResult<Page> {
        if q.partition.is_empty() || q.limit == 0 {
            return Err(StoreError::Invalid("a query needs a partition and a limit of at least 1".into()));
        }
        let (partition_attr, sort_attr) = if q.on_index { ("gsi1pk", "gsi1sk") } else { ("pk", "sk") };
        let mut names = HashMap::from([("#p".to_owned(), partition_attr.to_owned())]);
        let mut values = HashMap::from([(":p".to_owned(), s(&q.partition)), (":now".to_owned(), n(now_secs()))]);
        let mut key_condition = "#p = :p".to_owned();
        match &q.range {
            SortKeyRange::All => {}
            // DynamoDB refuses an empty key value; an empty prefix matches everything anyway.
            SortKeyRange::Prefix(p) if p.is_empty() => {}
            SortKeyRange::Prefix(p) => {
                key_condition.push_str(" AND begins_with(#s, :prefix)");
                values.insert(":prefix".to_owned(), s(p));
            }
            SortKeyRange::Between(from, to) if from <= to => {
                key_condition.push_str(" AND #s BETWEEN :from AND :to");
                values.insert(":from".to_owned(), s(from));
                values.insert(":to".to_owned(), s(to));
            }
            SortKeyRange::Between(..) => {
                return Err(StoreError::Invalid("a BETWEEN range must not run backwards".into()));
            }
        }
        if key_condition.contains("#s") {
            names.insert("#s".to_owned(), sort_attr.to_owned());
        }
        let mut start = q.cursor.as_deref().map(|c| start_key(c, &q)).transpose()?;
        let mut items = Vec::new();
        // DynamoDB's Limit counts items read before the TTL filter, and its LastEvaluatedKey may be set when
        // nothing follows; reading one item past the page answers "does more follow" exactly.
        loop {
            let want = i32::try_from(q.limit + 1 - items.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(q.on_index.then(|| INDEX.to_owned()))
                // GSIs allow no strong reads: on DynamoDB an index query may briefly miss a fresh write.
                .consistent_read(!q.on_index)
                .key_condition_expression(&key_condition)
                .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!q.descending)
                .limit(want)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unexpected(e, "Failed to query the table"))?;
            for attrs in out.items.unwrap_or_default() {
                items.push(from_attrs(attrs)?);
            }
            if items.len() > q.limit {
                items.truncate(q.limit);
                let next_cursor = items.last().map(|last| cursor_after(last, q.on_index)).transpose()?;
                return Ok(Page { items, next_cursor });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => {
                    return Ok(Page { items, next_cursor: None });
                }
            }
        }
    }
}

fn cursor_after(item: &Item, on_index: bool) -> StoreResult<String> {
    let (pk, sk) = (item.key.pk.clone(), item.key.sk.clone());
    let k = match (&item.index, on_index) {
        (_, false) => [pk, sk, String::new(), String::new()],
        (Some(ix), true) => [ix.pk.clone(), ix.sk.clone(), pk, sk],
        (None, true) => {
            return Err(anyhow::anyhow!("an index query returned an unindexed item").into());
        }
    };
    let json = serde_json::to_vec(&Cursor { i: on_index, k }).context("Failed to encode a cursor")?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The ExclusiveStartKey a cursor stands for. DynamoDB rejects a start key outside the query's range, so
/// a cursor from another query is refused here, as the embedded adapter does.
fn start_key(cursor: &str, q: &Query) -> StoreResult<Attrs> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let Cursor { i, k: [partition, sort, pk, sk] } =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let in_range = match &q.range {
        SortKeyRange::All => true,
        SortKeyRange::Prefix(p) => sort.starts_with(p.as_str()),
        SortKeyRange::Between(from, to) => (from.as_str()..=to.as_str()).contains(&sort.as_str()),
    };
    if i != q.on_index || partition != q.partition || sort.is_empty() || !in_range || (pk.is_empty() == i) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(if i {
        HashMap::from([
            ("gsi1pk".to_owned(), s(&partition)),
            ("gsi1sk".to_owned(), s(&sort)),
            ("pk".to_owned(), s(&pk)),
            ("sk".to_owned(), s(&sk)),
        ])
    } else {
        HashMap::from([("pk".to_owned(), s(&partition)), ("sk".to_owned(), s(&sort))])
    })
}

/// Creates the table as template.yaml declares it (for emulators and tests); an existing table is kept.
pub async fn create_table(client: &Client, name: &str) -> anyhow::Result<()> {
    let attr =
        |n: &str| AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build();
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build();
    let index = GlobalSecondaryIndex::builder()
        .index_name(INDEX)
        .key_schema(key("gsi1pk", KeyType::Hash)?)
        .key_schema(key("gsi1sk", KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()?;
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![attr("pk")?, attr("sk")?, attr("gsi1pk")?, attr("gsi1sk")?]))
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(index)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(e).with_context(|| format!("Failed to create table {name}")),
    }
    wait_until_active(client, name).await?;
    let ttl = client.describe_time_to_live().table_name(name).send().await.context("Failed to describe TTL")?;
    let enabled = ttl.time_to_live_description.is_some_and(|d| {
        matches!(d.time_to_live_status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling))
            && d.attribute_name.as_deref() == Some("expires_at")
    });
    if !enabled {
        let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name("expires_at").build()?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .with_context(|| format!("Failed to enable TTL on table {name}"))?;
    }
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> anyhow::Result<()> {
    for _ in 0..120 {
        let out = client.describe_table().table_name(name).send().await.context("Failed to describe the table")?;
        let table = out.table.context("DescribeTable returned no table")?;
        let indexes_active = table
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_status.as_ref().is_none_or(|s| *s == IndexStatus::Active));
        if table.table_status == Some(TableStatus::Active) && indexes_active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    anyhow::bail!("table {name} did not become active within two minutes")
}
