//! template.yaml against the groups' declarations (`platform::group`, listed in the runner's `GROUPS`): each
//! deployed function is a declared binary and the reverse; it gets exactly the environment its declaration
//! derives (a `TABLE_*` / `QUEUE_URL_*` / `BUCKET_*` per resource, `CACHE_URL` and the cache's VPC for the cache,
//! `KMS_KEY_ID` for the keys, the readiness lists) plus declared settings, required ones set; exactly the IAM
//! policies its access needs (least privilege: nothing undeclared; the KMS actions of its `KeyAccess` on the
//! stack's key, and no KMS permission at all without `Use::Keys`); a consumer its SQS event with partial batch
//! responses and the declared batch, window and concurrency, its queue the declared visibility (≥ 6 × the
//! timeout) and a DLQ with an alarm; the authorizer its place in the Api; every declared table and queue exists
//! and nothing else, and a KMS key (rotated, retained, its policy delegating to IAM only) iff some group
//! declares keys; a queue that schedules fire into (`Use::Schedules`) has the one role EventBridge Scheduler
//! assumes to send to it (trusting the scheduler of this account alone, allowed to send to that queue alone),
//! which the scheduling function may pass to the scheduler only (`SCHEDULER_TARGET_ARN`, `SCHEDULER_ROLE_ARN`);
//! every function has a throttle alarm. Each test names the step of ARCHITECTURE.md's "add a group" recipe it
//! guards; `a_mutated_template_fails_with_the_function_and_the_piece_named` checks that the checks catch what
//! they claim to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use platform::group::{
    Access, Function, Group, Inventory, KeyAccess, Kind, PushAccess, QueueAccess, Use, bucket_var, queue_var,
    table_var, topic_var,
};
use serde_norway::Value;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn declared() -> Vec<(&'static Group, &'static Function)> {
    local_runner::declarations().into_iter().flat_map(|g| g.functions.iter().map(move |f| (g, f))).collect()
}

/// `!Ref X` / `{Ref: X}` → ("Ref", "X"); `!GetAtt X.Y` → ("GetAtt", "X.Y"); `!Sub "…"` → ("Sub", "…").
fn intrinsic(value: &Value) -> Option<(String, String)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string().trim_start_matches('!').to_string();
            let arg = match &tagged.value {
                Value::String(s) => s.clone(),
                Value::Sequence(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("."),
                other => format!("{other:?}"),
            };
            Some((tag, arg))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let tag = key.as_str()?.trim_start_matches("Fn::").to_string();
            Some((tag, arg.as_str().map(String::from).unwrap_or_else(|| format!("{arg:?}"))))
        }
        _ => None,
    }
}

fn resources(template: &Value) -> BTreeMap<String, Value> {
    let map = template["Resources"].as_mapping().unwrap();
    map.iter().map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone())).collect()
}

/// Logical table name → resource name: the DynamoDB tables named `${AWS::StackName}-<logical>`.
fn named(template: &Value, kind: &str, name_field: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (resource, body) in resources(template) {
        if body["Type"].as_str() != Some(kind) {
            continue;
        }
        let name = intrinsic(&body["Properties"][name_field]).unwrap_or_else(|| panic!("{resource}: {name_field}"));
        // Buckets end in the account and region (S3's names are global).
        let local = name.1.strip_suffix("-${AWS::AccountId}-${AWS::Region}").unwrap_or(&name.1);
        let logical = local.strip_prefix("${AWS::StackName}-").unwrap_or_else(|| panic!("{resource}: {name:?}"));
        out.insert(logical.to_string(), resource);
    }
    out
}

fn tables(template: &Value) -> BTreeMap<String, String> {
    named(template, "AWS::DynamoDB::Table", "TableName")
}

fn queues(template: &Value) -> BTreeMap<String, String> {
    named(template, "AWS::SQS::Queue", "QueueName")
}

fn buckets(template: &Value) -> BTreeMap<String, String> {
    named(template, "AWS::S3::Bucket", "BucketName")
}

/// The buses: SNS topics named `${AWS::StackName}-<logical>` (the alarm topic has no name of that form).
fn topics(template: &Value) -> BTreeMap<String, String> {
    let mut named_topics = template.clone();
    if let Some(resources) = named_topics["Resources"].as_mapping_mut() {
        resources.retain(|_, body| {
            body["Type"].as_str() != Some("AWS::SNS::Topic") || !body["Properties"]["TopicName"].is_null()
        });
    }
    named(&named_topics, "AWS::SNS::Topic", "TopicName")
}

/// The template's KMS keys (resource names).
fn kms_keys(template: &Value) -> Vec<String> {
    resources(template)
        .into_iter()
        .filter(|(_, body)| body["Type"].as_str() == Some("AWS::KMS::Key"))
        .map(|(n, _)| n)
        .collect()
}

/// The key `Use::Keys` means: the template's one KMS key (none when it has none, or several).
fn the_key(template: &Value) -> Option<String> {
    match kms_keys(template).as_slice() {
        [key] => Some(key.clone()),
        _ => None,
    }
}

/// The variables that name a resource and so belong to the functions that declare it (never to Globals).
fn is_resource_var(name: &str) -> bool {
    (name.starts_with("TABLE_") && name != "TABLE_PREFIX")
        || name.starts_with("QUEUE_URL_")
        || name.starts_with("BUCKET_")
        || ["KMS_KEY_ID", "CACHE_URL", "READY_TABLES", "READY_QUEUES"].contains(&name)
        || name.starts_with("SCHEDULER_")
}

/// The service principal of EventBridge Scheduler.
const SCHEDULER_SERVICE: &str = "scheduler.amazonaws.com";

/// The roles EventBridge Scheduler may assume: IAM roles with a trust statement naming its service principal.
fn scheduler_roles(template: &Value) -> BTreeMap<String, Value> {
    resources(template)
        .into_iter()
        .filter(|(_, body)| body["Type"].as_str() == Some("AWS::IAM::Role"))
        .filter(|(_, body)| {
            let statements = body["Properties"]["AssumeRolePolicyDocument"]["Statement"].as_sequence().cloned();
            statements
                .unwrap_or_default()
                .iter()
                .any(|st| names_service(&st["Principal"]["Service"], SCHEDULER_SERVICE))
        })
        .collect()
}

/// `Service: x` or `Service: [x, …]` naming `service`.
fn names_service(value: &Value, service: &str) -> bool {
    match value {
        Value::String(s) => s == service,
        Value::Sequence(items) => items.iter().any(|i| i.as_str() == Some(service)),
        _ => false,
    }
}

/// The statements of a role's inline policies.
fn role_statements(role: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for policy in role["Properties"]["Policies"].as_sequence().into_iter().flatten() {
        let name = policy["PolicyName"].as_str().unwrap_or("?").to_string();
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().into_iter().flatten() {
            out.push((name.clone(), statement.clone()));
        }
    }
    out
}

/// The strings or intrinsics of a statement's `Action` or `Resource` (one or a list), as (tag, argument).
fn listed(value: &Value) -> Vec<(String, String)> {
    let one = |v: &Value| intrinsic(v).unwrap_or_else(|| (String::new(), v.as_str().unwrap_or("?").to_string()));
    match value {
        Value::Sequence(items) => items.iter().map(one).collect(),
        single => vec![one(single)],
    }
}

/// The role EventBridge Scheduler assumes to send to `queue` (a queue resource): the one scheduler role whose
/// policies name that queue (none when none does, or several).
fn scheduler_role_for(template: &Value, queue: &str) -> Option<String> {
    let arn = ("GetAtt".to_string(), format!("{queue}.Arn"));
    let roles: Vec<String> = scheduler_roles(template)
        .into_iter()
        .filter(|(_, role)| role_statements(role).iter().any(|(_, st)| listed(&st["Resource"]).contains(&arn)))
        .map(|(name, _)| name)
        .collect();
    match roles.as_slice() {
        [role] => Some(role.clone()),
        _ => None,
    }
}

/// The queues (logical names) some declared function has schedules fire into (`Use::Schedules`).
fn scheduled_queues() -> BTreeSet<&'static str> {
    let uses = declared().into_iter().flat_map(|(_, f)| f.uses.iter());
    uses.filter_map(|u| match u {
        Use::Schedules(queue) => Some(*queue),
        _ => None,
    })
    .collect()
}

/// The template's function resource for each `Metadata.BuildProperties.Binary`.
fn functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, body)| body["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, body)| (body["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string(), (name, body)))
        .collect()
}

fn inventory() -> Inventory {
    Inventory::of(&local_runner::declarations())
}

/// Step "declare": every deployed function is a declared binary, and every declared binary is deployed.
#[test]
fn every_template_function_is_a_declared_binary_and_the_reverse() {
    let template = template();
    let in_template: BTreeSet<String> = functions(&template).into_keys().collect();
    let declared: BTreeSet<String> = declared().iter().map(|(_, f)| f.binary.to_string()).collect();
    assert_eq!(in_template, declared, "template.yaml's binaries (left) vs the runner's GROUPS declarations (right)");
}

/// Step "register": every crate under functions/ is in the runner's GROUPS (its binaries are the declared ones).
#[test]
fn every_function_crate_is_registered_with_the_runner() {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let functions_dir = repo_root().join("functions");
    let mut crate_binaries = BTreeSet::new();
    for package in metadata["packages"].as_array().unwrap() {
        if !Path::new(package["manifest_path"].as_str().unwrap()).starts_with(&functions_dir) {
            continue;
        }
        for target in package["targets"].as_array().unwrap() {
            if target["kind"].as_array().unwrap().iter().any(|k| k == "bin") {
                crate_binaries.insert(target["name"].as_str().unwrap().to_string());
            }
        }
    }
    let declared: BTreeSet<String> = declared().iter().map(|(_, f)| f.binary.to_string()).collect();
    assert_eq!(crate_binaries, declared, "binaries under functions/ (left) vs declared in the runner's GROUPS (right)");
}

/// Step "environment": exactly the derived variables and declared settings, required ones present, resource
/// variables pointing at the resource of that logical name.
#[test]
fn every_function_gets_exactly_the_environment_its_declaration_derives() {
    let problems = environment_problems(&template());
    assert!(problems.is_empty(), "template.yaml vs declarations:\n{}", problems.join("\n"));
}

fn environment_problems(template: &Value) -> Vec<String> {
    let globals: BTreeSet<String> = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let (tables, queues, buckets) = (tables(template), queues(template), buckets(template));
    let topics = topics(template);
    let key = the_key(template).map(|k| ("GetAtt".to_string(), format!("{k}.Arn")));
    let inventory = inventory();
    let functions = functions(template);
    let mut problems = Vec::new();
    for name in globals.iter().filter(|name| is_resource_var(name)) {
        problems.push(format!("Globals set {name}: it goes to the functions that declare its resource only"));
    }
    for (_, function) in declared() {
        let Some((resource, body)) = functions.get(function.binary) else { continue };
        let env: BTreeMap<String, Value> = body["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone())).collect())
            .unwrap_or_default();
        // name → (required, expected `!Ref`/`!GetAtt` target if any)
        let mut wanted: BTreeMap<String, (bool, Option<(String, String)>)> = BTreeMap::new();
        let table_ref = |name: &str| tables.get(name).map(|r| ("Ref".to_string(), r.clone()));
        let queue_ref = |name: &str| queues.get(name).map(|r| ("Ref".to_string(), r.clone()));
        for used in function.uses {
            match *used {
                Use::Table(name, _) => _ = wanted.insert(table_var(name), (true, table_ref(name))),
                Use::Queue(name, QueueAccess::Send) => _ = wanted.insert(queue_var(name), (true, queue_ref(name))),
                Use::Bucket(name, _) => {
                    let target = buckets.get(name).map(|r| ("Ref".to_string(), r.clone()));
                    wanted.insert(bucket_var(name), (true, target));
                }
                Use::Bus(name) => {
                    let target = topics.get(name).map(|r| ("Ref".to_string(), r.clone()));
                    wanted.insert(topic_var(name), (true, target));
                }
                Use::Cache => _ = wanted.insert("CACHE_URL".into(), (true, None)),
                Use::Keys(_) => _ = wanted.insert("KMS_KEY_ID".into(), (true, key.clone())),
                // The sender is a setting the group declares (NOTIFICATIONS_FROM_EMAIL); no resource variable. SMS
                // and push neither (the platform applications are settings: NOTIFICATIONS_PUSH_*_APP_ARN).
                Use::Email | Use::Sms | Use::Push(_) => {}
                // The usage plans are a setting the group declares (USAGE_PLAN_IDS).
                Use::UsagePlans => {}
                // Where the schedules send (the queue's ARN) and as whom (the role the scheduler assumes for it).
                Use::Schedules(name) => {
                    let queue = queues.get(name);
                    let target = queue.map(|r| ("GetAtt".to_string(), format!("{r}.Arn")));
                    wanted.insert("SCHEDULER_TARGET_ARN".into(), (true, target));
                    let role = queue.and_then(|q| scheduler_role_for(template, q));
                    wanted.insert(
                        "SCHEDULER_ROLE_ARN".into(),
                        (true, role.map(|r| ("GetAtt".to_string(), format!("{r}.Arn")))),
                    );
                }
                Use::Readiness => {
                    wanted.insert("READY_TABLES".into(), (true, None));
                    wanted.insert("READY_QUEUES".into(), (true, None));
                    for name in &inventory.tables {
                        wanted.insert(table_var(name), (true, table_ref(name)));
                    }
                    for name in &inventory.queues {
                        wanted.insert(queue_var(name), (true, queue_ref(name)));
                    }
                    let listed = |var: &str| env.get(var).and_then(Value::as_str).unwrap_or_default().to_string();
                    let tables_listed: BTreeSet<&str> = listed("READY_TABLES").leak().split(',').collect();
                    let queues_listed: BTreeSet<&str> = listed("READY_QUEUES").leak().split(',').collect();
                    if tables_listed != inventory.tables.iter().copied().collect() {
                        problems.push(format!(
                            "{resource}: READY_TABLES {tables_listed:?}, declared {:?}",
                            inventory.tables
                        ));
                    }
                    if queues_listed != inventory.queues.iter().copied().collect() {
                        problems.push(format!(
                            "{resource}: READY_QUEUES {queues_listed:?}, declared {:?}",
                            inventory.queues
                        ));
                    }
                }
            }
        }
        for setting in function.settings {
            wanted.entry(setting.name.to_string()).or_insert((setting.required, None));
        }
        for (name, (required, target)) in &wanted {
            match env.get(name) {
                None if *required => problems.push(format!("{resource} lacks {name} (declared)")),
                None => {}
                Some(value) => {
                    if let Some(target) = target
                        && intrinsic(value).as_ref() != Some(target)
                    {
                        problems.push(format!("{resource}: {name} is {value:?}, expected !{} {}", target.0, target.1));
                    }
                }
            }
            let names_a_resource = name.starts_with("TABLE_")
                || name.starts_with("QUEUE_URL_")
                || name.starts_with("BUCKET_")
                || name.starts_with("TOPIC_ARN_")
                || name.starts_with("SCHEDULER_")
                || name == "KMS_KEY_ID";
            if target.is_none() && names_a_resource {
                problems.push(format!("{resource}: {name} names no resource of the template"));
            }
        }
        for name in env.keys() {
            if !wanted.contains_key(name) && !globals.contains(name) {
                problems.push(format!("{resource} sets {name}, which its declaration does not derive or declare"));
            }
        }
    }
    problems
}

/// The SAM policy template each access needs.
fn policy_for(
    used: &Use,
    tables: &BTreeMap<String, String>,
    queues: &BTreeMap<String, String>,
    buckets: &BTreeMap<String, String>,
    topics: &BTreeMap<String, String>,
) -> Option<String> {
    Some(match *used {
        Use::Table(name, access) => {
            let template = match access {
                Access::Read => "DynamoDBReadPolicy",
                Access::Write => "DynamoDBWritePolicy",
                Access::ReadWrite => "DynamoDBCrudPolicy",
            };
            format!("{template} TableName=Ref {}", tables.get(name)?)
        }
        Use::Queue(name, QueueAccess::Send) => {
            format!("SQSSendMessagePolicy QueueName=GetAtt {}.QueueName", queues.get(name)?)
        }
        Use::Bucket(name, access) => {
            let template = match access {
                Access::Read => "S3ReadPolicy",
                Access::Write => "S3WritePolicy",
                Access::ReadWrite => "S3CrudPolicy",
            };
            format!("{template} BucketName=Ref {}", buckets.get(name)?)
        }
        Use::Bus(name) => format!("SNSPublishMessagePolicy TopicName=GetAtt {}.TopicName", topics.get(name)?),
        // SES v2 SendEmail as the stack's one sending identity (a parameter: verified outside the stack).
        Use::Email => format!("Statement ses:SendEmail {SES_IDENTITY_ARN}"),
        // SNS Publish to a phone number: an SMS publish names no resource, so it is granted on "*".
        Use::Sms => "Statement sns:Publish *".to_string(),
        Use::Cache | Use::Readiness | Use::Keys(_) | Use::Push(_) | Use::UsagePlans | Use::Schedules(_) => {
            return None;
        }
    })
}

/// The statements `Use::UsagePlans` needs, one action each: find and create keys (GET, POST `/apikeys`), list
/// a key's usage plans (GET `/usageplans?keyId=`), attach and detach it (POST, DELETE `/usageplans/{id}/keys…`).
/// Not POST `/usageplans`: the stack makes the usage plans (only tests, against moto, provision them).
fn usage_plan_policies() -> Vec<String> {
    let arn = |path: &str| format!("arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::{path}");
    vec![
        format!("Statement apigateway:GET {},{}", arn("/apikeys"), arn("/usageplans")),
        format!("Statement apigateway:POST {},{}", arn("/apikeys"), arn("/usageplans/*")),
        format!("Statement apigateway:DELETE {}", arn("/usageplans/*")),
    ]
}

/// The statements `Use::Schedules` needs: the schedules of the stack's schedule groups (one per tenant, named
/// `{stack}-{tenant}`: `automations::schedule::group_of`), the groups themselves (looked up, created on a
/// tenant's first schedule), and passing `role` (the scheduler's role for the queue; the pass is
/// checked to name the scheduler as the service it is passed to). `scheduler:ListSchedules` names no resource
/// type in IAM (only `"*"` matches it), so it is granted on `"*"`: listing schedule names, nothing else.
fn schedule_policies(role: &str) -> Vec<String> {
    let scheduler = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}";
    let mut policies: Vec<String> = ["CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule"]
        .iter()
        .map(|action| format!("Statement scheduler:{action} {scheduler}:schedule/${{AWS::StackName}}-*/*"))
        .collect();
    policies.push("Statement scheduler:ListSchedules *".into());
    for action in ["CreateScheduleGroup", "GetScheduleGroup"] {
        policies.push(format!("Statement scheduler:{action} {scheduler}:schedule-group/${{AWS::StackName}}-*"));
    }
    policies.push(format!("Statement iam:PassRole {role}.Arn"));
    policies
}

/// A function's `iam:PassRole` statements that do not limit the pass to EventBridge Scheduler
/// (`Condition: {StringEquals: {iam:PassedToService: scheduler.amazonaws.com}}`).
fn unconditioned_passes(function: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"].as_sequence().into_iter().flatten() {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            let passes = listed(&statement["Action"]).iter().any(|(_, action)| action == "iam:PassRole");
            let passed_to = &statement["Condition"]["StringEquals"]["iam:PassedToService"];
            if passes && passed_to.as_str() != Some(SCHEDULER_SERVICE) {
                out.push(format!("{:?}", statement["Resource"]));
            }
        }
    }
    out
}

/// The resource `Use::Email` may send as: the identity the `NotificationsSesIdentity` parameter names.
const SES_IDENTITY_ARN: &str =
    "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${NotificationsSesIdentity}";

/// The statements `Use::Push(access)` needs: to register devices, creating endpoints on the account's platform
/// applications and deleting endpoints; to send, publishing to endpoints (no wider: not sns:Publish on topics,
/// not the applications' management).
fn push_policies(access: PushAccess) -> Vec<String> {
    let sns = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}";
    match access {
        PushAccess::Register => vec![
            format!("Statement sns:CreatePlatformEndpoint {sns}:app/*"),
            format!("Statement sns:DeleteEndpoint {sns}:endpoint/*"),
        ],
        PushAccess::Send => vec![format!("Statement sns:Publish {sns}:endpoint/*")],
    }
}

/// The policies `Use::Keys(access)` needs on `key`: kms:Decrypt (SAM's `KMSDecryptPolicy`, which takes the
/// key id) and, to seal, kms:GenerateDataKey (no SAM policy template grants it alone). Nothing else: not
/// kms:Encrypt (the port never calls it), not kms:DescribeKey (`/ready` does not check the key).
fn key_policies(access: KeyAccess, key: &str) -> Vec<String> {
    let mut policies = vec![format!("KMSDecryptPolicy KeyId=Ref {key}")];
    if access == KeyAccess::EncryptDecrypt {
        policies.push(format!("Statement kms:GenerateDataKey {key}.Arn"));
    }
    policies
}

/// A policy entry in the same words as [`policy_for`]; statements as "Statement <action> <resources>" (one per
/// action of a statement listing several; a plain string resource, such as "*", as itself).
fn describe_policy(entry: &Value) -> Vec<String> {
    if let Value::Tagged(tagged) = entry {
        // `!If [UseElastiCache, AWSLambdaVPCAccessExecutionRole, !Ref AWS::NoValue]`: the cache's VPC access.
        return vec![format!("{} …", tagged.tag.to_string().trim_start_matches('!'))];
    }
    let Some(map) = entry.as_mapping() else { return vec![format!("{entry:?}")] };
    let mut out = Vec::new();
    for (key, value) in map {
        let key = key.as_str().unwrap();
        if key == "Statement" {
            for statement in value.as_sequence().unwrap() {
                // Only an Allow grants: anything else is described apart, so it neither passes for a grant
                // nor goes unnoticed.
                if statement["Effect"].as_str() != Some("Allow") {
                    out.push(format!("Statement with Effect {:?}", statement["Effect"]));
                    continue;
                }
                let resource = |r: &Value| intrinsic(r).map(|i| i.1).or_else(|| r.as_str().map(String::from));
                let resources: Vec<String> = match &statement["Resource"] {
                    Value::Sequence(items) => items.iter().map(|r| resource(r).unwrap_or_default()).collect(),
                    single => vec![resource(single).unwrap_or_default()],
                };
                let mut resources = resources;
                resources.sort();
                let actions: Vec<&str> = match &statement["Action"] {
                    Value::Sequence(items) => items.iter().map(|a| a.as_str().unwrap_or("?")).collect(),
                    single => vec![single.as_str().unwrap_or("?")],
                };
                for action in actions {
                    out.push(format!("Statement {action} {}", resources.join(",")));
                }
            }
            continue;
        }
        let args: Vec<String> = value
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let (tag, arg) = intrinsic(v).unwrap_or_default();
                format!("{}={tag} {arg}", k.as_str().unwrap())
            })
            .collect();
        out.push(format!("{key} {}", args.join(" ")));
    }
    out
}

/// Step "permissions": exactly the policies the declared access needs — no more (least privilege), no less.
#[test]
fn every_function_gets_exactly_the_iam_policies_its_declared_access_needs() {
    let problems = iam_problems(&template());
    assert!(problems.is_empty(), "template.yaml vs declarations:\n{}", problems.join("\n"));
}

fn iam_problems(template: &Value) -> Vec<String> {
    let (tables, queues, buckets) = (tables(template), queues(template), buckets(template));
    let topics = topics(template);
    let key = the_key(template);
    let inventory = inventory();
    let functions = functions(template);
    let mut problems = Vec::new();
    for (_, function) in declared() {
        let Some((resource, body)) = functions.get(function.binary) else { continue };
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for used in function.uses {
            match used {
                Use::Readiness => {
                    let mut arns: Vec<String> =
                        inventory.tables.iter().filter_map(|t| tables.get(*t)).map(|r| format!("{r}.Arn")).collect();
                    arns.sort();
                    wanted.insert(format!("Statement dynamodb:DescribeTable {}", arns.join(",")));
                    let mut arns: Vec<String> =
                        inventory.queues.iter().filter_map(|q| queues.get(*q)).map(|r| format!("{r}.Arn")).collect();
                    arns.sort();
                    wanted.insert(format!("Statement sqs:GetQueueAttributes {}", arns.join(",")));
                }
                Use::UsagePlans => wanted.extend(usage_plan_policies()),
                Use::Keys(access) => match &key {
                    Some(key) => wanted.extend(key_policies(*access, key)),
                    None => problems.push(format!("{resource}: {used:?}, but the template has no single KMS key")),
                },
                Use::Push(access) => wanted.extend(push_policies(*access)),
                Use::Schedules(queue) => {
                    match queues.get(*queue).and_then(|q| scheduler_role_for(template, q)) {
                        Some(role) => wanted.extend(schedule_policies(&role)),
                        None => problems.push(format!(
                            "{resource}: {used:?}, but no single role EventBridge Scheduler assumes sends to that queue"
                        )),
                    }
                    for pass in unconditioned_passes(body) {
                        problems.push(format!(
                            "{resource}: iam:PassRole on {pass} without the condition iam:PassedToService: \
                             {SCHEDULER_SERVICE}"
                        ));
                    }
                }
                used => match policy_for(used, &tables, &queues, &buckets, &topics) {
                    Some(policy) => _ = wanted.insert(policy),
                    None if *used == Use::Cache => {}
                    None => problems.push(format!("{resource}: {used:?} names no resource of the template")),
                },
            }
        }
        let has: Vec<String> =
            body["Properties"]["Policies"].as_sequence().into_iter().flatten().flat_map(describe_policy).collect();
        let uses_cache = function.uses.contains(&Use::Cache);
        for policy in &has {
            // SAM adds the VPC access role itself when VpcConfig is set; a function may name it under the same condition.
            let vpc_role = policy == "If …" && uses_cache;
            if !wanted.contains(policy) && !vpc_role {
                problems.push(format!("{resource} has policy {policy:?}, which its declaration does not need"));
            }
        }
        for policy in &wanted {
            if !has.contains(policy) {
                problems.push(format!("{resource} lacks policy {policy:?} (declared access)"));
            }
        }
        // The cache is reached inside the VPC under CacheMode=elasticache.
        let vpc = &body["Properties"]["VpcConfig"];
        match (uses_cache, vpc.is_null()) {
            (true, true) => problems.push(format!("{resource} uses the cache but has no VpcConfig")),
            (false, false) => problems.push(format!("{resource} has a VpcConfig but declares no cache")),
            _ => {}
        }
    }
    problems
}

fn timeout_of(template: &Value, function: &Value) -> u64 {
    function["Properties"]["Timeout"].as_u64().or_else(|| template["Globals"]["Function"]["Timeout"].as_u64()).unwrap()
}

/// Step "trigger": a consumer's SQS event as declared with partial batch responses; its queue's visibility and
/// DLQ; the authorizer wired into the Api; HTTP functions without other triggers.
#[test]
fn every_function_is_triggered_as_its_kind_declares() {
    let template = template();
    let all = resources(&template);
    let queues = queues(&template);
    let functions = functions(&template);
    let mut problems = Vec::new();
    for (_, function) in declared() {
        let Some((resource, body)) = functions.get(function.binary) else { continue };
        let events: Vec<&Value> =
            body["Properties"]["Events"].as_mapping().map(|m| m.values().collect()).unwrap_or_default();
        let non_api: Vec<&Value> = events.iter().copied().filter(|e| e["Type"].as_str() != Some("Api")).collect();
        match function.kind {
            Kind::Http => {
                if !non_api.is_empty() {
                    problems.push(format!("{resource} (HTTP) has non-Api events"));
                }
            }
            Kind::Authorizer => {
                let arn = intrinsic(
                    &template["Resources"]["Api"]["Properties"]["Auth"]["Authorizers"]["LambdaAuthorizer"]["FunctionArn"],
                );
                if arn != Some(("GetAtt".into(), format!("{resource}.Arn"))) {
                    problems.push(format!("the Api's LambdaAuthorizer is not {resource} ({arn:?})"));
                }
                if !events.is_empty() {
                    problems.push(format!("{resource} (authorizer) has events"));
                }
            }
            Kind::Schedule { expression } => {
                let found = events.iter().any(|e| {
                    matches!(e["Type"].as_str(), Some("Schedule" | "ScheduleV2"))
                        && e["Properties"]["Schedule"].as_str().or(e["Properties"]["ScheduleExpression"].as_str())
                            == Some(expression)
                });
                if !found {
                    problems.push(format!("{resource} lacks its schedule {expression}"));
                }
            }
            Kind::Consumer { queue, batch_size, batching_window_secs, max_concurrency, visibility_secs } => {
                let Some(queue_resource) = queues.get(queue) else {
                    problems.push(format!("{resource} consumes queue {queue}, which the template lacks"));
                    continue;
                };
                let sqs: Vec<&Value> = non_api.iter().copied().filter(|e| e["Type"].as_str() == Some("SQS")).collect();
                let [event] = sqs.as_slice() else {
                    problems.push(format!("{resource}: {} SQS events, expected one", sqs.len()));
                    continue;
                };
                let props = &event["Properties"];
                let checks = [
                    ("Queue", intrinsic(&props["Queue"]) == Some(("GetAtt".into(), format!("{queue_resource}.Arn")))),
                    ("BatchSize", props["BatchSize"].as_u64() == Some(batch_size.into())),
                    (
                        "MaximumBatchingWindowInSeconds",
                        props["MaximumBatchingWindowInSeconds"].as_u64() == Some(batching_window_secs.into()),
                    ),
                    (
                        "FunctionResponseTypes",
                        props["FunctionResponseTypes"]
                            .as_sequence()
                            .is_some_and(|t| t.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
                    ),
                    (
                        "ScalingConfig.MaximumConcurrency",
                        props["ScalingConfig"]["MaximumConcurrency"].as_u64() == Some(max_concurrency.into()),
                    ),
                ];
                for (what, ok) in checks {
                    if !ok {
                        problems.push(format!("{resource}: SQS event {what} differs from the declaration"));
                    }
                }
                let queue_props = &all[queue_resource]["Properties"];
                if queue_props["VisibilityTimeout"].as_u64() != Some(visibility_secs.into()) {
                    problems.push(format!("{queue_resource}: VisibilityTimeout is not the declared {visibility_secs}"));
                }
                if u64::from(visibility_secs) < 6 * timeout_of(&template, body) {
                    problems.push(format!("{resource}: visibility {visibility_secs} s is under 6 × its timeout"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "template.yaml vs declarations:\n{}", problems.join("\n"));
}

/// Step "resources": every declared table, queue and bucket exists, each queue with a DLQ that has an alarm;
/// one KMS key iff some group declares `Use::Keys` (rotated, retained, and its key policy granting the account
/// alone, so that the IAM check above is all the access there is); and the template holds none that no group
/// declares.
#[test]
fn the_template_holds_exactly_the_declared_tables_queues_and_buckets() {
    let problems = resource_problems(&template());
    assert!(problems.is_empty(), "template.yaml vs declarations:\n{}", problems.join("\n"));
}

fn resource_problems(template: &Value) -> Vec<String> {
    let all = resources(template);
    let inventory = inventory();
    let mut problems = Vec::new();
    let table_names: BTreeSet<String> = tables(template).into_keys().collect();
    let declared_tables: BTreeSet<String> = inventory.tables.iter().map(|t| t.to_string()).collect();
    if table_names != declared_tables {
        problems.push(format!("tables {table_names:?}, declared {declared_tables:?}"));
    }
    let bucket_names: BTreeSet<String> = buckets(template).into_keys().collect();
    let declared_buckets: BTreeSet<String> = inventory.buckets.iter().map(|t| t.to_string()).collect();
    if bucket_names != declared_buckets {
        problems.push(format!("buckets {bucket_names:?}, declared {declared_buckets:?}"));
    }
    let keys = kms_keys(template);
    match (inventory.keys, keys.len()) {
        (true, 1) | (false, 0) => {}
        (true, n) => {
            problems.push(format!("the groups declare Use::Keys: the template needs one KMS key, it has {n} {keys:?}"))
        }
        (false, _) => problems.push(format!("KMS keys {keys:?}, which no group declares (Use::Keys)")),
    }
    for key in &keys {
        let body = &all[key];
        if body["DeletionPolicy"].as_str() != Some("Retain") {
            problems
                .push(format!("{key}: DeletionPolicy is not Retain (deleting the key loses every secret it sealed)"));
        }
        if body["Properties"]["EnableKeyRotation"].as_bool() != Some(true) {
            problems.push(format!("{key}: EnableKeyRotation is not true"));
        }
        let statements = body["Properties"]["KeyPolicy"]["Statement"].as_sequence().cloned().unwrap_or_default();
        if statements.is_empty() {
            problems.push(format!("{key}: no KeyPolicy statements"));
        }
        for statement in &statements {
            let account = intrinsic(&statement["Principal"]["AWS"]).is_some_and(|(tag, arg)| {
                (tag == "Sub" && arg == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
                    || (tag == "Ref" && arg == "AWS::AccountId")
            });
            let principals = statement["Principal"].as_mapping().map_or(0, serde_norway::Mapping::len);
            if statement["Effect"].as_str() != Some("Deny") && !(account && principals == 1) {
                problems.push(format!(
                    "{key}: its key policy grants {:?}, not only the account (IAM then decides, and is checked)",
                    statement["Principal"]
                ));
            }
        }
    }
    let queues = queues(template);
    let mut dead_letter_queues = BTreeSet::new();
    for name in &inventory.queues {
        let Some(resource) = queues.get(*name) else {
            problems.push(format!("declared queue {name} is not in the template"));
            continue;
        };
        let redrive = &all[resource]["Properties"]["RedrivePolicy"];
        let dlq =
            intrinsic(&redrive["deadLetterTargetArn"]).and_then(|(_, arn)| arn.strip_suffix(".Arn").map(String::from));
        let Some(dlq) = dlq.filter(|d| all.get(d).is_some_and(|r| r["Type"].as_str() == Some("AWS::SQS::Queue")))
        else {
            problems.push(format!("{resource} has no dead-letter queue"));
            continue;
        };
        if redrive["maxReceiveCount"].as_u64().is_none_or(|n| n == 0) {
            problems.push(format!("{resource}: RedrivePolicy.maxReceiveCount"));
        }
        let alarmed = all.values().any(|r| {
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && r["Properties"]["Namespace"].as_str() == Some("AWS/SQS")
                && r["Properties"]["Dimensions"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .any(|d| intrinsic(&d["Value"]) == Some(("GetAtt".into(), format!("{dlq}.QueueName"))))
        });
        if !alarmed {
            problems.push(format!("{dlq} (the DLQ of {resource}) has no alarm"));
        }
        dead_letter_queues.insert(dlq);
    }
    for (name, resource) in &queues {
        if !inventory.queues.contains(name.as_str()) && !dead_letter_queues.contains(resource) {
            problems.push(format!("queue {name} ({resource}) is declared by no group"));
        }
    }
    problems.extend(bus_problems(template, &all, &inventory, &queues));
    problems.extend(scheduler_role_problems(template, &queues));
    problems
}

/// Schedules (`Use::Schedules`): each queue schedules fire into has exactly one role EventBridge Scheduler
/// assumes to send to it; every role the scheduler may assume trusts it alone, from this account alone
/// (`aws:SourceAccount`: no other account's schedule can use it), and may do one thing: sqs:SendMessage to a
/// queue schedules fire into. No such role without a declaration that schedules into its queue.
fn scheduler_role_problems(template: &Value, queues: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let scheduled = scheduled_queues();
    let targets: BTreeSet<(String, String)> =
        scheduled.iter().filter_map(|q| queues.get(*q)).map(|r| ("GetAtt".to_string(), format!("{r}.Arn"))).collect();
    for queue in &scheduled {
        let Some(resource) = queues.get(*queue) else { continue };
        if scheduler_role_for(template, resource).is_none() {
            problems.push(format!(
                "schedules fire into {queue} ({resource}): it needs exactly one role that {SCHEDULER_SERVICE} may \
                 assume and that may send to it"
            ));
        }
    }
    for (role, body) in scheduler_roles(template) {
        let properties = &body["Properties"];
        for statement in properties["AssumeRolePolicyDocument"]["Statement"].as_sequence().into_iter().flatten() {
            let principal = &statement["Principal"];
            let only_scheduler = principal.as_mapping().is_some_and(|m| m.len() == 1)
                && principal["Service"].as_str() == Some(SCHEDULER_SERVICE);
            let assumes = listed(&statement["Action"]) == [(String::new(), "sts:AssumeRole".to_string())];
            let account = intrinsic(&statement["Condition"]["StringEquals"]["aws:SourceAccount"]);
            if statement["Effect"].as_str() != Some("Allow") || !only_scheduler || !assumes {
                problems.push(format!(
                    "{role}: its trust policy lets {principal:?} {:?}, not {SCHEDULER_SERVICE} sts:AssumeRole alone",
                    statement["Action"]
                ));
            }
            if account != Some(("Ref".to_string(), "AWS::AccountId".to_string())) {
                problems.push(format!(
                    "{role}: its trust policy lacks the condition aws:SourceAccount: !Ref AWS::AccountId (any \
                     account's schedule could send as it)"
                ));
            }
        }
        for key in ["ManagedPolicyArns", "PermissionsBoundary"] {
            if !properties[key].is_null() {
                problems.push(format!("{role}: has {key}; it may only send to the queue its schedules fire into"));
            }
        }
        let statements = role_statements(&body);
        if statements.is_empty() {
            problems.push(format!("{role}: no policy lets it send to a queue schedules fire into"));
        }
        for (policy, statement) in &statements {
            let actions = listed(&statement["Action"]);
            let resources = listed(&statement["Resource"]);
            let sends = actions == [(String::new(), "sqs:SendMessage".to_string())];
            let to_a_target = !resources.is_empty() && resources.iter().all(|r| targets.contains(r));
            if statement["Effect"].as_str() != Some("Allow")
                || !sends
                || !to_a_target
                || !statement["Condition"].is_null()
            {
                problems.push(format!(
                    "{role}: policy {policy} allows {actions:?} on {resources:?}; it may only sqs:SendMessage to the \
                     queue its schedules fire into ({targets:?})"
                ));
            }
        }
    }
    problems
}

/// The buses: a topic per bus some function publishes to (`Use::Bus`), none other; per route of the routing
/// declaration (`events::routing`) a queue that a declared consumer reads, an SNS subscription of the topic
/// with raw delivery and exactly the route's filter policy, and a queue policy letting that topic (only) send;
/// no other subscription of the topic.
fn bus_problems(
    template: &Value,
    all: &BTreeMap<String, Value>,
    inventory: &Inventory,
    queues: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let topics = topics(template);
    let names: BTreeSet<&str> = topics.keys().map(String::as_str).collect();
    if names != inventory.buses {
        problems.push(format!("topics {names:?}, declared buses {:?}", inventory.buses));
    }
    let spec = events::routing::bus_spec();
    let Some(topic) = topics.get(&spec.name) else { return problems };
    let topic_ref = Some(("Ref".to_string(), topic.clone()));
    let subscriptions: Vec<(&String, &Value)> = all
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SNS::Subscription"))
        .filter(|(_, r)| intrinsic(&r["Properties"]["TopicArn"]) == topic_ref)
        .collect();
    let mut routed = BTreeSet::new();
    for route in &spec.routes {
        let name = route.queue.name.as_str();
        let Some(queue) = queues.get(name) else {
            problems.push(format!("the bus routes to {name}, which is not in the template"));
            continue;
        };
        if !inventory.queues.contains(name) {
            problems.push(format!("the bus routes to {name}, which no declared consumer reads"));
        }
        let endpoint = Some(("GetAtt".to_string(), format!("{queue}.Arn")));
        let subscribed: Vec<&(&String, &Value)> =
            subscriptions.iter().filter(|(_, r)| intrinsic(&r["Properties"]["Endpoint"]) == endpoint).collect();
        let [(resource, subscription)] = subscribed.as_slice() else {
            problems.push(format!("{queue}: {} subscriptions of {topic}, expected one", subscribed.len()));
            continue;
        };
        routed.insert(resource.to_string());
        let properties = &subscription["Properties"];
        if properties["Protocol"].as_str() != Some("sqs") || properties["RawMessageDelivery"].as_bool() != Some(true) {
            problems.push(format!("{resource}: not an sqs subscription with RawMessageDelivery: true"));
        }
        let filter: Option<serde_json::Value> =
            (!properties["FilterPolicy"].is_null()).then(|| serde_json::to_value(&properties["FilterPolicy"]).unwrap());
        if filter != route.filter_policy(&spec.attribute) {
            problems.push(format!(
                "{resource}: FilterPolicy {filter:?}, the routing declaration says {:?}",
                route.filter_policy(&spec.attribute)
            ));
        }
        let allowed = all.values().any(|r| {
            r["Type"].as_str() == Some("AWS::SQS::QueuePolicy")
                && r["Properties"]["Queues"]
                    .as_sequence()
                    .is_some_and(|q| q.iter().any(|q| intrinsic(q) == Some(("Ref".to_string(), queue.clone()))))
                && r["Properties"]["PolicyDocument"]["Statement"].as_sequence().is_some_and(|statements| {
                    statements.iter().any(|st| {
                        st["Effect"].as_str() == Some("Allow")
                            && st["Action"].as_str() == Some("sqs:SendMessage")
                            && st["Principal"]["Service"].as_str() == Some("sns.amazonaws.com")
                            && intrinsic(&st["Condition"]["ArnEquals"]["aws:SourceArn"]) == topic_ref
                    })
                })
        });
        if !allowed {
            problems.push(format!("{queue}: no queue policy lets {topic} (and only it) send"));
        }
    }
    for (resource, _) in &subscriptions {
        if !routed.contains(resource.as_str()) {
            problems.push(format!("{resource} subscribes to {topic} but the routing declaration has no such route"));
        }
    }
    problems
}

/// Step "alarms": every function has its own throttle alarm (one alarm per function scales past CloudWatch's
/// ten metrics per metric-math alarm).
#[test]
fn every_function_has_a_throttle_alarm() {
    let template = template();
    let all = resources(&template);
    let mut problems = Vec::new();
    for (binary, (resource, _)) in functions(&template) {
        let alarmed = all.values().any(|r| {
            let props = &r["Properties"];
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && props["Namespace"].as_str() == Some("AWS/Lambda")
                && props["MetricName"].as_str() == Some("Throttles")
                && props["Dimensions"].as_sequence().into_iter().flatten().any(|d| {
                    d["Name"].as_str() == Some("FunctionName")
                        && intrinsic(&d["Value"]) == Some(("Ref".into(), resource.clone()))
                })
        });
        if !alarmed {
            problems.push(format!("{resource} ({binary}) has no throttle alarm"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checks above catch what they claim to: each mutation of the real template fails the check it concerns,
/// naming the function (or resource) and the missing or extra piece.
#[test]
fn a_mutated_template_fails_with_the_function_and_the_piece_named() {
    let original = template();
    let functions = functions(&original);
    let key = the_key(&original).expect("the template's KMS key");
    let resource_of = |wanted: &dyn Fn(&Function) -> bool| {
        let (_, function) = declared().into_iter().find(|(_, f)| wanted(f)).expect("a declared binary of that kind");
        functions[function.binary].0.clone()
    };
    let sealing = resource_of(&|f| f.uses.contains(&Use::Keys(KeyAccess::EncryptDecrypt)));
    let keyless = resource_of(&|f| f.kind == Kind::Http && !f.uses.iter().any(|u| matches!(u, Use::Keys(_))));
    let publisher = resource_of(&|f| f.uses.contains(&Use::Bus(events::routing::BUS)));
    let variables = |template: &Value, resource: &str| {
        template["Resources"][resource]["Properties"]["Environment"]["Variables"].as_mapping().unwrap().clone()
    };
    let set_variables = |template: &mut Value, resource: &str, variables: serde_norway::Mapping| {
        template["Resources"][resource]["Properties"]["Environment"]["Variables"] = Value::Mapping(variables);
    };
    let policies = |template: &Value, resource: &str| -> Vec<Value> {
        template["Resources"][resource]["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default()
    };
    let set_policies = |template: &mut Value, resource: &str, policies: Vec<Value>| {
        template["Resources"][resource]["Properties"]["Policies"] = Value::Sequence(policies);
    };
    let names = |problems: &[String], pieces: &[&str]| {
        assert!(
            problems.iter().any(|p| pieces.iter().all(|piece| p.contains(piece))),
            "no problem names all of {pieces:?}: {problems:?}"
        );
    };
    for check in [environment_problems, iam_problems, resource_problems] {
        assert!(check(&original).is_empty(), "the unmutated template passes");
    }

    // Environment: a dropped KMS_KEY_ID, or TOPIC_ARN_EVENTS; KMS_KEY_ID where no keys are declared, or in Globals.
    let mut dropped = original.clone();
    let mut env = variables(&dropped, &sealing);
    let kms_key_id = env.remove("KMS_KEY_ID").expect("KMS_KEY_ID");
    set_variables(&mut dropped, &sealing, env);
    names(&environment_problems(&dropped), &[&sealing, "lacks KMS_KEY_ID"]);
    let mut dropped = original.clone();
    let mut env = variables(&dropped, &publisher);
    env.remove("TOPIC_ARN_EVENTS").expect("TOPIC_ARN_EVENTS");
    set_variables(&mut dropped, &publisher, env);
    names(&environment_problems(&dropped), &[&publisher, "lacks TOPIC_ARN_EVENTS"]);
    let mut extra = original.clone();
    let mut env = variables(&extra, &keyless);
    env.insert("KMS_KEY_ID".into(), kms_key_id.clone());
    set_variables(&mut extra, &keyless, env);
    names(&environment_problems(&extra), &[&keyless, "sets KMS_KEY_ID"]);
    let mut global = original.clone();
    global["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping_mut()
        .unwrap()
        .insert("KMS_KEY_ID".into(), kms_key_id);
    names(&environment_problems(&global), &["Globals set KMS_KEY_ID"]);

    // IAM: a dropped kms:GenerateDataKey; a KMS policy, or a wider KMS statement, where none is declared.
    let generate = format!("Statement kms:GenerateDataKey {key}.Arn");
    let mut dropped = original.clone();
    let kept: Vec<Value> =
        policies(&dropped, &sealing).into_iter().filter(|p| !describe_policy(p).contains(&generate)).collect();
    set_policies(&mut dropped, &sealing, kept);
    names(&iam_problems(&dropped), &[&sealing, "lacks policy", "kms:GenerateDataKey"]);
    let decrypt = policies(&original, &sealing)
        .into_iter()
        .find(|p| describe_policy(p).iter().any(|d| d.starts_with("KMSDecryptPolicy")))
        .expect("the KMSDecryptPolicy");
    let mut extra = original.clone();
    let mut widened = policies(&extra, &keyless);
    widened.push(decrypt);
    set_policies(&mut extra, &keyless, widened);
    names(&iam_problems(&extra), &[&keyless, "has policy", "KMSDecryptPolicy"]);
    let everything: Value = serde_norway::from_str(&format!(
        "Statement: [{{Effect: Allow, Action: 'kms:*', Resource: !GetAtt {key}.Arn}}]"
    ))
    .unwrap();
    let mut wider = original.clone();
    let mut widened = policies(&wider, &sealing);
    widened.push(everything);
    set_policies(&mut wider, &sealing, widened);
    names(&iam_problems(&wider), &[&sealing, "has policy", "kms:*"]);

    // Resources: no key while some group declares keys; a key policy granting a role directly; no rotation.
    let mut keyless_template = original.clone();
    keyless_template["Resources"].as_mapping_mut().unwrap().remove(key.as_str());
    names(&resource_problems(&keyless_template), &["declare Use::Keys", "needs one KMS key"]);
    names(&iam_problems(&keyless_template), &[&sealing, "no single KMS key"]);
    names(&environment_problems(&keyless_template), &[&sealing, "KMS_KEY_ID names no resource"]);
    let mut granted = original.clone();
    let role: Value = serde_norway::from_str(
        "{Effect: Allow, Principal: {AWS: !GetAtt HealthFunctionRole.Arn}, Action: 'kms:*', Resource: '*'}",
    )
    .unwrap();
    granted["Resources"][key.as_str()]["Properties"]["KeyPolicy"]["Statement"].as_sequence_mut().unwrap().push(role);
    names(&resource_problems(&granted), &[&key, "key policy grants"]);
    let mut denied = original.clone();
    let mut policies_denied = policies(&denied, &sealing);
    for policy in &mut policies_denied {
        if describe_policy(policy).contains(&generate) {
            policy["Statement"][0]["Effect"] = Value::String("Deny".into());
        }
    }
    set_policies(&mut denied, &sealing, policies_denied);
    names(&iam_problems(&denied), &[&sealing, "lacks policy", "kms:GenerateDataKey"]);
    names(&iam_problems(&denied), &[&sealing, "has policy", "Effect"]);
    // Decrypt alone is kms:Decrypt alone.
    assert_eq!(key_policies(KeyAccess::Decrypt, "Key"), ["KMSDecryptPolicy KeyId=Ref Key"]);
    // The bus: a route's subscription without its filter, or with raw delivery off; a subscription the
    // routing declaration does not have.
    let spec = events::routing::bus_spec();
    let all = resources(&original);
    let subscription_of = |queue: &str| {
        let queue = queues(&original)[queue].clone();
        all.iter()
            .find(|(_, r)| {
                r["Type"].as_str() == Some("AWS::SNS::Subscription")
                    && intrinsic(&r["Properties"]["Endpoint"]) == Some(("GetAtt".into(), format!("{queue}.Arn")))
            })
            .map(|(name, _)| name.clone())
            .expect("a subscription")
    };
    let first = subscription_of(&spec.routes[0].queue.name);
    let mut raw_off = original.clone();
    raw_off["Resources"][first.as_str()]["Properties"]["RawMessageDelivery"] = Value::Bool(false);
    names(&resource_problems(&raw_off), &[&first, "RawMessageDelivery"]);
    let mut filtered = original.clone();
    let filter: Value = serde_norway::from_str("{type: [user.registered]}").unwrap();
    filtered["Resources"][first.as_str()]["Properties"]["FilterPolicy"] = filter;
    names(&resource_problems(&filtered), &[&first, "FilterPolicy"]);
    let mut stray = original.clone();
    let copy = stray["Resources"][first.as_str()].clone();
    stray["Resources"].as_mapping_mut().unwrap().insert("StraySubscription".into(), copy);
    names(&resource_problems(&stray), &["subscriptions of", "expected one"]);
    let mut unrotated = original.clone();
    unrotated["Resources"][key.as_str()]["Properties"]["EnableKeyRotation"] = Value::Bool(false);
    names(&resource_problems(&unrotated), &[&key, "EnableKeyRotation"]);

    // Schedules: the scheduling function and the role EventBridge Scheduler assumes for its queue.
    let scheduling = resource_of(&|f| f.uses.iter().any(|u| matches!(u, Use::Schedules(_))));
    let env = variables(&original, &scheduling);
    let target = env.get("SCHEDULER_TARGET_ARN").and_then(intrinsic).expect("SCHEDULER_TARGET_ARN").1;
    let runs_queue = target.strip_suffix(".Arn").expect("a queue's ARN").to_string();
    let role = env.get("SCHEDULER_ROLE_ARN").and_then(intrinsic).expect("SCHEDULER_ROLE_ARN").1;
    let role = role.strip_suffix(".Arn").expect("a role's ARN").to_string();
    assert_eq!(scheduler_role_for(&original, &runs_queue).as_deref(), Some(role.as_str()));
    // Environment: either variable dropped, or the target another queue.
    for variable in ["SCHEDULER_TARGET_ARN", "SCHEDULER_ROLE_ARN"] {
        let mut dropped = original.clone();
        let mut env = variables(&dropped, &scheduling);
        env.remove(variable);
        set_variables(&mut dropped, &scheduling, env);
        names(&environment_problems(&dropped), &[&scheduling, &format!("lacks {variable}")]);
    }
    let other_queue = queues(&original).into_values().find(|q| *q != runs_queue).expect("another queue");
    let mut elsewhere = original.clone();
    let mut env = variables(&elsewhere, &scheduling);
    let other_arn: Value = serde_norway::from_str(&format!("!GetAtt {other_queue}.Arn")).unwrap();
    env.insert("SCHEDULER_TARGET_ARN".into(), other_arn);
    set_variables(&mut elsewhere, &scheduling, env);
    names(&environment_problems(&elsewhere), &[&scheduling, "SCHEDULER_TARGET_ARN", &runs_queue]);
    // IAM: a scheduler action or the pass dropped; a schedule action widened to "*"; the pass unconditioned.
    let edit_statements = |template: &mut Value, edit: &dyn Fn(&mut Vec<Value>)| {
        let mut edited = policies(template, &scheduling);
        for policy in &mut edited {
            if let Some(statements) = policy.get_mut("Statement").and_then(Value::as_sequence_mut) {
                edit(statements);
            }
        }
        set_policies(template, &scheduling, edited);
    };
    let actions_of = |statement: &Value| listed(&statement["Action"]).into_iter().map(|(_, a)| a).collect::<Vec<_>>();
    for action in ["scheduler:CreateScheduleGroup", "scheduler:DeleteSchedule", "iam:PassRole"] {
        let mut dropped = original.clone();
        edit_statements(&mut dropped, &|statements| {
            for statement in statements.iter_mut() {
                let kept: Vec<Value> =
                    actions_of(statement).into_iter().filter(|a| a != action).map(Value::String).collect();
                statement["Action"] = Value::Sequence(kept);
            }
            statements.retain(|s| s["Action"].as_sequence().is_some_and(|a| !a.is_empty()));
        });
        names(&iam_problems(&dropped), &[&scheduling, "lacks policy", action]);
    }
    let mut widened = original.clone();
    edit_statements(&mut widened, &|statements| {
        for statement in statements.iter_mut() {
            if actions_of(statement).iter().any(|a| a == "scheduler:CreateSchedule") {
                statement["Resource"] = Value::String("*".into());
            }
        }
    });
    names(&iam_problems(&widened), &[&scheduling, "has policy", "scheduler:CreateSchedule *"]);
    let mut unconditioned = original.clone();
    edit_statements(&mut unconditioned, &|statements| {
        for statement in statements.iter_mut() {
            if actions_of(statement).iter().any(|a| a == "iam:PassRole") {
                statement.as_mapping_mut().unwrap().remove("Condition");
            }
        }
    });
    names(&iam_problems(&unconditioned), &[&scheduling, "iam:PassRole", "iam:PassedToService"]);
    // Resources: the role trusting another service, any account, or allowed more than sending to its queue.
    let mut lambda_trusted = original.clone();
    lambda_trusted["Resources"][role.as_str()]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        ["Service"] = Value::String("lambda.amazonaws.com".into());
    let runs_name = queues(&original).into_iter().find(|(_, r)| *r == runs_queue).expect("the queue's name").0;
    names(&resource_problems(&lambda_trusted), &[&runs_name, &runs_queue, "exactly one role"]);
    names(&iam_problems(&lambda_trusted), &[&scheduling, "no single role EventBridge Scheduler assumes"]);
    names(&environment_problems(&lambda_trusted), &[&scheduling, "SCHEDULER_ROLE_ARN names no resource"]);
    let mut any_account = original.clone();
    any_account["Resources"][role.as_str()]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        .as_mapping_mut()
        .unwrap()
        .remove("Condition");
    names(&resource_problems(&any_account), &[&role, "aws:SourceAccount"]);
    let mut wider_role = original.clone();
    wider_role["Resources"][role.as_str()]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"] =
        Value::String("sqs:*".into());
    names(&resource_problems(&wider_role), &[&role, "sqs:*"]);
    let mut other_target = original.clone();
    let other_arn: Value = serde_norway::from_str(&format!("!GetAtt {other_queue}.Arn")).unwrap();
    other_target["Resources"][role.as_str()]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
        .as_mapping_mut()
        .unwrap()
        .insert("Resource".into(), other_arn);
    names(&resource_problems(&other_target), &[&role, &other_queue]);
}

/// Every table an event publisher writes may hold outbox items ([`events::outbox`]): the relay must sweep it,
/// or an event left there by a crash would never be published.
#[test]
fn the_relay_sweeps_every_table_an_event_publisher_writes() {
    let swept: BTreeSet<&str> = relay::OUTBOX_TABLES.into_iter().collect();
    let mut unswept = Vec::new();
    for (_, function) in declared() {
        if !function.uses.iter().any(|u| matches!(u, Use::Bus(_))) {
            continue;
        }
        for used in function.uses {
            if let Use::Table(name, Access::Write | Access::ReadWrite) = used
                && !swept.contains(name)
            {
                unswept.push(format!("{} publishes events and writes table {name}", function.binary));
            }
        }
    }
    assert!(unswept.is_empty(), "relay::OUTBOX_TABLES misses: {unswept:?}");
}
