//! The schedules port on EventBridge Scheduler: one schedule per trigger in the tenant's schedule group (created
//! on first use), flexible time window off, targeting the workflow queue (its ARN, with the role the scheduler
//! assumes to send to it) with the input as the message body. A one-time (`at`) schedule deletes itself after
//! its fire (`ActionAfterCompletion: DELETE`).

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::error::ProvideErrorMetadata;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};

use crate::schedules::{Expression, Schedule, Schedules, validate_group, validate_key};
use crate::{StoreError, StoreResult};

/// The schedule's fields on a create or an update request (two builder types of the SDK with the same setters).
macro_rules! with_schedule {
    ($builder:expr, $s:expr, $r:expr) => {
        $builder
            .group_name(&$s.group)
            .name(&$s.name)
            .schedule_expression(&$r.expression)
            .schedule_expression_timezone(&$r.time_zone)
            .flexible_time_window($r.window.clone())
            .target($r.target.clone())
            .state($r.state.clone())
            .action_after_completion($r.after_completion.clone())
    };
}

pub struct EventBridgeSchedules {
    client: Client,
    /// The workflow queue's ARN.
    target_arn: String,
    /// The IAM role EventBridge Scheduler assumes to send to the queue.
    role_arn: String,
}

impl EventBridgeSchedules {
    pub fn new(client: Client, target_arn: impl Into<String>, role_arn: impl Into<String>) -> Self {
        Self { client, target_arn: target_arn.into(), role_arn: role_arn.into() }
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static, what: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

/// AWS refusing what the port's own checks let through: the caller's request, not a failure here.
fn refused<E: ProvideErrorMetadata>(e: &E) -> StoreError {
    StoreError::Invalid(format!(
        "EventBridge Scheduler refused the schedule: {}",
        e.message().unwrap_or("no reason given")
    ))
}

/// What CreateSchedule and UpdateSchedule both send.
struct Request {
    expression: String,
    time_zone: String,
    window: FlexibleTimeWindow,
    target: Target,
    state: ScheduleState,
    after_completion: ActionAfterCompletion,
}

impl EventBridgeSchedules {
    fn request(&self, s: &Schedule) -> StoreResult<Request> {
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .context("Failed to build a flexible time window")?;
        let target = Target::builder()
            .arn(&self.target_arn)
            .role_arn(&self.role_arn)
            .input(&s.input)
            .build()
            .context("Failed to build a schedule target")?;
        Ok(Request {
            expression: s.expression.to_aws()?,
            time_zone: s.time_zone.clone(),
            window,
            target,
            state: if s.enabled { ScheduleState::Enabled } else { ScheduleState::Disabled },
            after_completion: match s.expression {
                Expression::At { .. } => ActionAfterCompletion::Delete,
                _ => ActionAfterCompletion::None,
            },
        })
    }

    /// `Ok(false)`: the schedule (or its group) does not exist.
    async fn update(&self, s: &Schedule, r: &Request) -> StoreResult<bool> {
        let updated = with_schedule!(self.client.update_schedule(), s, r).send().await;
        match updated {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_validation_exception()) => Err(refused(&e)),
            Err(e) => Err(unexpected(e, "Failed to update a schedule")),
        }
    }

    /// `Ok(false)`: it exists already (a concurrent put created it).
    async fn create(&self, s: &Schedule, r: &Request) -> StoreResult<bool> {
        let created = with_schedule!(self.client.create_schedule(), s, r).send().await;
        match created {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(false),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_validation_exception()) => Err(refused(&e)),
            Err(e) => Err(unexpected(e, "Failed to create a schedule")),
        }
    }
}

/// Creates the schedule group unless it exists. (Looked up first: moto's CreateScheduleGroup replaces an
/// existing group, schedules and all, where AWS answers ConflictException.)
pub async fn ensure_group(client: &Client, group: &str) -> StoreResult<()> {
    validate_group(group)?;
    match client.get_schedule_group().name(group).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(e) => return Err(unexpected(e, "Failed to look up a schedule group")),
    }
    match client.create_schedule_group().name(group).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(()),
        Err(e) => Err(unexpected(e, "Failed to create a schedule group")),
    }
}

#[async_trait]
impl Schedules for EventBridgeSchedules {
    #[tracing::instrument(skip_all, fields(group = %schedule.group, name = %schedule.name))]
    async fn put(&self, schedule: &Schedule) -> StoreResult<()> {
        let s = schedule.normalized()?;
        let request = self.request(&s)?;
        // Updating first costs one call for the common case; a missing schedule (or group) is created.
        if self.update(&s, &request).await? {
            return Ok(());
        }
        ensure_group(&self.client, &s.group).await?;
        if self.create(&s, &request).await? {
            return Ok(());
        }
        if self.update(&s, &request).await? {
            return Ok(());
        }
        Err(anyhow::anyhow!("the schedule was deleted while it was being written; put it again").into())
    }

    #[tracing::instrument(skip_all, fields(group, name))]
    async fn delete(&self, group: &str, name: &str) -> StoreResult<()> {
        validate_key(group, name)?;
        match self.client.delete_schedule().group_name(group).name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(()),
            Err(e) => Err(unexpected(e, "Failed to delete a schedule")),
        }
    }

    #[tracing::instrument(skip_all, fields(group, name))]
    async fn get(&self, group: &str, name: &str) -> StoreResult<Option<Schedule>> {
        validate_key(group, name)?;
        let out = match self.client.get_schedule().group_name(group).name(name).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => return Err(unexpected(e, "Failed to get a schedule")),
        };
        let text = out.schedule_expression.context("GetSchedule returned no expression")?;
        let expression = Expression::from_aws(&text)
            .with_context(|| format!("Schedule {group}/{name} has an expression this port cannot read: {text}"))?;
        Ok(Some(Schedule {
            group: group.to_owned(),
            name: name.to_owned(),
            expression,
            time_zone: out.schedule_expression_timezone.unwrap_or_else(|| "UTC".into()),
            input: out.target.and_then(|t| t.input).unwrap_or_default(),
            enabled: !matches!(out.state, Some(ScheduleState::Disabled)),
        }))
    }

    #[tracing::instrument(skip_all, fields(group))]
    async fn list(&self, group: &str) -> StoreResult<Vec<String>> {
        validate_group(group)?;
        let mut pages = self.client.list_schedules().group_name(group).into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => names.extend(page.schedules.into_iter().filter_map(|s| s.name)),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(unexpected(e, "Failed to list schedules")),
            }
        }
        names.sort();
        Ok(names)
    }
}
