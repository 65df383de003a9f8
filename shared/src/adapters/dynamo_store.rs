//! `DynamoStore`: the single table on DynamoDB.
//!
//! Items are `{pk, sk, doc, ttl?}`: the document is a native DynamoDB map (readable in
//! the console), `ttl` is the table's TTL attribute. DynamoDB deletes expired items
//! only eventually, so reads, queries and conditions here also treat an item whose
//! `ttl` has passed as absent — the same meaning the embedded store gives them.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};
use serde_json::Value;

use crate::ports::{
    Clock, Condition, Item, Key, Page, Query, Store, StoreError, Write, check_transaction,
};

/// The [`Store`] on one DynamoDB table with string keys `pk` and `sk` and TTL attribute
/// `ttl`.
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

/// A condition as a DynamoDB ConditionExpression with its names and values.
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("dynamodb: {}", DisplayErrorContext(&e)))
}

impl DynamoStore {
    /// The store on `table`; `clock` decides which items have expired.
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    fn key_attributes(key: &Key) -> Result<HashMap<String, AttributeValue>, StoreError> {
        if key.pk.is_empty() || key.sk.is_empty() {
            return Err(StoreError::Invalid(
                "partition and sort keys must not be empty".into(),
            ));
        }
        Ok(HashMap::from([
            ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
        ]))
    }

    fn to_attributes(item: &Item) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut attrs = Self::key_attributes(&item.key)?;
        let doc: AttributeValue = serde_dynamo::to_attribute_value(&item.doc)
            .map_err(|e| StoreError::Invalid(format!("document cannot be stored: {e}")))?;
        attrs.insert("doc".to_owned(), doc);
        if let Some(at) = item.expires_at {
            attrs.insert("ttl".to_owned(), AttributeValue::N(at.to_string()));
        }
        Ok(attrs)
    }

    fn from_attributes(mut attrs: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
        let text =
            |attrs: &mut HashMap<String, AttributeValue>, name: &str| match attrs.remove(name) {
                Some(AttributeValue::S(s)) => Ok(s),
                _ => Err(StoreError::Corrupt(format!(
                    "item without string attribute {name}"
                ))),
            };
        let pk = text(&mut attrs, "pk")?;
        let sk = text(&mut attrs, "sk")?;
        let doc: Value = match attrs.remove("doc") {
            Some(doc) => serde_dynamo::from_attribute_value(doc)
                .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: {e}")))?,
            None => return Err(StoreError::Corrupt(format!("{pk}/{sk} has no doc"))),
        };
        let expires_at = match attrs.remove("ttl") {
            Some(AttributeValue::N(n)) => Some(
                n.parse::<i64>()
                    .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk} ttl: {e}")))?,
            ),
            _ => None,
        };
        Ok(Item {
            key: Key::new(pk, sk),
            doc,
            expires_at,
        })
    }

    fn is_live(&self, item: &Item) -> bool {
        item.expires_at
            .is_none_or(|at| at > self.clock.now().timestamp())
    }

    fn expression(&self, condition: &Condition) -> Result<Option<Expression>, StoreError> {
        let now = AttributeValue::N(self.clock.now().timestamp().to_string());
        let mut names = HashMap::from([("#ttl".to_owned(), "ttl".to_owned())]);
        let mut values = HashMap::from([(":now".to_owned(), now)]);
        let live = "(attribute_exists(pk) AND (attribute_not_exists(#ttl) OR #ttl > :now))";
        let text = match condition {
            Condition::Always => return Ok(None),
            Condition::NotExists => "(attribute_not_exists(pk) OR #ttl <= :now)".to_owned(),
            Condition::Exists => live.to_owned(),
            Condition::FieldEquals { field, value } => {
                names.insert("#doc".to_owned(), "doc".to_owned());
                names.insert("#field".to_owned(), field.clone());
                let value = serde_dynamo::to_attribute_value(value)
                    .map_err(|e| StoreError::Invalid(format!("condition value: {e}")))?;
                values.insert(":value".to_owned(), value);
                format!("{live} AND #doc.#field = :value")
            }
        };
        Ok(Some(Expression {
            text,
            names,
            values,
        }))
    }

    fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
        let put = |item: &Item, condition: &Condition| -> Result<TransactWriteItem, StoreError> {
            let mut put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(Self::to_attributes(item)?));
            if let Some(e) = self.expression(condition)? {
                put = put
                    .condition_expression(e.text)
                    .set_expression_attribute_names(Some(e.names))
                    .set_expression_attribute_values(Some(e.values));
            }
            Ok(TransactWriteItem::builder()
                .put(put.build().map_err(invalid)?)
                .build())
        };
        let item = match write {
            Write::Put(item, condition) => put(item, condition)?,
            // DynamoDB takes attribute values, made from a `Value`.
            Write::PutRaw(item, condition) => put(&item.to_item()?, condition)?,
            Write::Delete(key, condition) => {
                let mut delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(key)?));
                if let Some(e) = self.expression(condition)? {
                    delete = delete
                        .condition_expression(e.text)
                        .set_expression_attribute_names(Some(e.names))
                        .set_expression_attribute_values(Some(e.values));
                }
                TransactWriteItem::builder()
                    .delete(delete.build().map_err(invalid)?)
                    .build()
            }
            Write::Check(key, condition) => {
                // A ConditionCheck needs an expression; `Always` becomes one that is.
                let e = self.expression(condition)?.unwrap_or(Expression {
                    text: "attribute_exists(pk) OR attribute_not_exists(pk)".to_owned(),
                    names: HashMap::new(),
                    values: HashMap::new(),
                });
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(key)?))
                    .condition_expression(e.text)
                    .set_expression_attribute_names((!e.names.is_empty()).then_some(e.names))
                    .set_expression_attribute_values((!e.values.is_empty()).then_some(e.values))
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
            Write::Add { key, field, delta } => {
                // The live-item condition, with the counter's names and value added.
                let mut e = self
                    .expression(&Condition::Exists)?
                    .ok_or_else(|| StoreError::Invalid("a counter needs a condition".into()))?;
                e.names.insert("#doc".to_owned(), "doc".to_owned());
                e.names.insert("#field".to_owned(), field.clone());
                e.values
                    .insert(":delta".to_owned(), AttributeValue::N(delta.to_string()));
                e.values
                    .insert(":zero".to_owned(), AttributeValue::N("0".to_owned()));
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key_attributes(key)?))
                    .update_expression(
                        "SET #doc.#field = if_not_exists(#doc.#field, :zero) + :delta",
                    )
                    .condition_expression(e.text)
                    .set_expression_attribute_names(Some(e.names))
                    .set_expression_attribute_values(Some(e.values))
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().update(update).build()
            }
        };
        Ok(item)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item {
            Some(attrs) => {
                let item = Self::from_attributes(attrs)?;
                Ok(self.is_live(&item).then_some(item))
            }
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::to_attributes(&item)?));
        if let Some(e) = self.expression(&condition)? {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed { index: None })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key_attributes(key)?));
        if let Some(e) = self.expression(&condition)? {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed { index: None })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// DynamoDB has one durability: every acknowledged write is durable.
    async fn transact_relaxed(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.transact(writes).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        let items = writes
            .iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(c.cancellation_reasons().to_vec())
                        }
                        _ => None,
                    });
                match reasons {
                    Some(reasons) => {
                        let index = reasons
                            .iter()
                            .position(|r| r.code() == Some("ConditionalCheckFailed"));
                        match index {
                            Some(index) => Err(StoreError::ConditionFailed {
                                index: if writes.len() > 1 { Some(index) } else { None },
                            }),
                            None => Err(StoreError::Unavailable(format!(
                                "dynamodb transaction cancelled: {:?}",
                                reasons.iter().filter_map(|r| r.code()).collect::<Vec<_>>()
                            ))),
                        }
                    }
                    None => Err(unavailable(e)),
                }
            }
        }
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid(
                "a query's limit must be at least 1".into(),
            ));
        }
        if query.pk.is_empty() {
            return Err(StoreError::Invalid("a query needs a partition key".into()));
        }
        let now = self.clock.now().timestamp();
        let mut items = Vec::new();
        let mut start = query.after.as_ref().map(|sk| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(query.pk.clone())),
                ("sk".to_owned(), AttributeValue::S(sk.clone())),
            ])
        });
        // DynamoDB applies Limit before the filter on expired items, so a page can come
        // back short while more remain: keep reading until the page is full or the
        // partition range is exhausted.
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(!query.descending)
                .limit(i32::try_from(query.limit - items.len()).unwrap_or(i32::MAX))
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", AttributeValue::S(query.pk.clone()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .filter_expression("attribute_not_exists(#ttl) OR #ttl > :now")
                .set_exclusive_start_key(start.take());
            request = if query.sk_prefix.is_empty() {
                request.key_condition_expression("pk = :pk")
            } else {
                request
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(
                        ":prefix",
                        AttributeValue::S(query.sk_prefix.clone()),
                    )
            };
            let out = request.send().await.map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                items.push(Self::from_attributes(attrs)?);
            }
            match out.last_evaluated_key {
                Some(key) if items.len() < query.limit => start = Some(key),
                _ => break,
            }
        }
        let next = if items.len() == query.limit {
            items.last().map(|i| i.key.sk.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }
}
