//! Shared AWS SDK configuration: one `SdkConfig` built at cold start, with an optional endpoint
//! override so every AWS adapter can run against an emulator (moto) as well as AWS.

use aws_config::BehaviorVersion;

#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: send every AWS call here (an emulator) instead of AWS.
    pub endpoint_url: Option<String>,
    /// `AWS_REGION`; the SDK's default chain applies when unset.
    pub region: Option<String>,
}

pub async fn sdk_config(settings: &AwsSettings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

pub fn dynamodb(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn sqs(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// Path-style addressing when an endpoint override is set (emulators do not resolve bucket subdomains).
pub fn s3(config: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn sns(config: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}

pub fn kms(config: &aws_config::SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(config)
}

pub fn scheduler(config: &aws_config::SdkConfig) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(config)
}

pub fn elasticache(config: &aws_config::SdkConfig) -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::new(config)
}
