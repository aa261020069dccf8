//! Plugins: what the environment says about where the service runs, for `origin` and the
//! `aws.ec2` / `aws.ecs` / `aws.eks` / `aws.elastic_beanstalk` blocks of every segment.
//!
//! ECS, EKS and Elastic Beanstalk read environment variables and local files once, when the
//! recorder is built. EC2 asks the instance metadata service (IMDSv2, falling back to IMDSv1
//! as the AWS SDKs do) on a thread of its own, so building the recorder never waits on the
//! network: segments sent before the answer arrives (normally a few milliseconds after
//! start) carry no `aws.ec2`; [`crate::Recorder::wait_for_plugins`] waits for it. When
//! several apply the most specific origin wins (Elastic Beanstalk, then EKS, then ECS, then
//! EC2), as AWS documents.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fluoro_proto::segment::{Aws, Ec2, Ecs, Eks, ElasticBeanstalk};
use serde_json::Value;

use crate::imds;

/// An environment to describe in segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// Amazon ECS: `ECS_CONTAINER_METADATA_URI(_V4)` is set; `aws.ecs.container` is the host
    /// name, `origin` `AWS::ECS::Container`.
    Ecs,
    /// Amazon EKS: a Kubernetes service account is mounted; `aws.eks.pod` is the host name,
    /// `origin` `AWS::EKS::Container`.
    Eks,
    /// Elastic Beanstalk: `/var/elasticbeanstalk/xray/environment.conf`; `origin`
    /// `AWS::ElasticBeanstalk::Environment`.
    ElasticBeanstalk,
    /// Amazon EC2: the instance identity document from the instance metadata service
    /// (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, default `http://169.254.169.254`; none asked
    /// when `AWS_EC2_METADATA_DISABLED=true` or in Lambda) fills `aws.ec2` (`instance_id`,
    /// `availability_zone`, `instance_size`, `ami_id`); `origin` `AWS::EC2::Instance`.
    /// Without an answer (not on EC2, IMDS turned off) the fields are left out.
    Ec2,
}

/// The EC2 plugin's origin.
pub(crate) const EC2_ORIGIN: &str = "AWS::EC2::Instance";

/// The EC2 plugin's answer, written once by its lookup thread: `Some(None)` when the lookup
/// failed.
pub(crate) type Ec2Slot = Arc<OnceLock<Option<Box<Ec2>>>>;

/// Starts the EC2 lookup on its own thread; the slot is filled when it is done.
pub(crate) fn start_ec2(endpoint: Option<&str>, timeout: Duration) -> Ec2Slot {
    let slot: Ec2Slot = Arc::new(OnceLock::new());
    let endpoint = endpoint.unwrap_or(imds::DEFAULT_ENDPOINT).to_owned();
    let out = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("fluoro-sdk-ec2".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let found = imds::Client::new(&endpoint, timeout).and_then(|c| c.identity());
            let found = match found {
                Ok(ec2) => Some(Box::new(ec2)),
                Err(e) => {
                    tracing::warn!(
                        endpoint = %endpoint,
                        error = %e,
                        "fluoro-sdk: EC2 plugin: no instance metadata; segments carry no aws.ec2"
                    );
                    None
                }
            };
            let _ = out.set(found);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "fluoro-sdk: EC2 plugin: cannot start its thread");
        let _ = slot.set(None);
    }
    slot
}

/// What the plugins found.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Detected {
    pub(crate) origin: Option<String>,
    pub(crate) aws: Aws,
}

/// Where plugins read from; the process's environment and file system in production.
pub(crate) struct Sources<'a> {
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) read: &'a dyn Fn(&str) -> Option<String>,
}

const EB_CONF: &str = "/var/elasticbeanstalk/xray/environment.conf";
const K8S_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

fn hostname(src: &Sources<'_>) -> Option<String> {
    (src.env)("HOSTNAME")
        .or_else(|| (src.read)("/proc/sys/kernel/hostname"))
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Runs the plugins in order of increasing precedence.
pub(crate) fn detect(plugins: &[Plugin], src: &Sources<'_>) -> Detected {
    let mut d = Detected::default();
    let mut rank = 0;
    let mut set_origin = |d: &mut Detected, r: u8, origin: &str| {
        if r >= rank {
            rank = r;
            d.origin = Some(origin.to_owned());
        }
    };
    for p in plugins {
        match p {
            Plugin::Ecs => {
                if (src.env)("ECS_CONTAINER_METADATA_URI_V4").is_some()
                    || (src.env)("ECS_CONTAINER_METADATA_URI").is_some()
                {
                    d.aws.ecs = Some(Box::new(Ecs {
                        container: hostname(src),
                        ..Ecs::default()
                    }));
                    set_origin(&mut d, 1, "AWS::ECS::Container");
                }
            }
            Plugin::Eks => {
                if (src.env)("KUBERNETES_SERVICE_HOST").is_some() && (src.read)(K8S_TOKEN).is_some()
                {
                    d.aws.eks = Some(Box::new(Eks {
                        pod: hostname(src),
                        ..Eks::default()
                    }));
                    set_origin(&mut d, 2, "AWS::EKS::Container");
                }
            }
            Plugin::ElasticBeanstalk => {
                let Some(conf) = (src.read)(EB_CONF) else {
                    continue;
                };
                let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&conf) else {
                    tracing::warn!(
                        path = EB_CONF,
                        "fluoro-sdk: elastic beanstalk plugin: not a JSON object"
                    );
                    continue;
                };
                let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
                d.aws.elastic_beanstalk = Some(Box::new(ElasticBeanstalk {
                    environment_name: s("environment_name"),
                    version_label: s("version_label"),
                    deployment_id: m.get("deployment_id").and_then(|v| v.as_number().cloned()),
                    ..ElasticBeanstalk::default()
                }));
                set_origin(&mut d, 3, "AWS::ElasticBeanstalk::Environment");
            }
            // Asked over the network on its own thread: `start_ec2`.
            Plugin::Ec2 => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(plugins: &[Plugin], env: &[(&str, &str)], files: &[(&str, &str)]) -> Detected {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let files: HashMap<String, String> = files
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        detect(
            plugins,
            &Sources {
                env: &|k| env.get(k).cloned(),
                read: &|p| files.get(p).cloned(),
            },
        )
    }

    #[test]
    fn nothing_detected_outside_aws() {
        let d = run(
            &[Plugin::Ecs, Plugin::Eks, Plugin::ElasticBeanstalk],
            &[],
            &[],
        );
        assert_eq!(d, Detected::default());
    }

    #[test]
    fn ecs_container() {
        let d = run(
            &[Plugin::Ecs],
            &[
                ("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x"),
                ("HOSTNAME", "c0ffee"),
            ],
            &[],
        );
        assert_eq!(d.origin.as_deref(), Some("AWS::ECS::Container"));
        assert_eq!(d.aws.ecs.unwrap().container.as_deref(), Some("c0ffee"));
    }

    #[test]
    fn most_specific_origin_wins() {
        let d = run(
            &[Plugin::ElasticBeanstalk, Plugin::Ecs, Plugin::Eks],
            &[
                ("ECS_CONTAINER_METADATA_URI", "x"),
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ],
            &[
                (K8S_TOKEN, "token"),
                ("/proc/sys/kernel/hostname", "pod-1\n"),
                (
                    EB_CONF,
                    r#"{"deployment_id":3,"version_label":"v1","environment_name":"prod"}"#,
                ),
            ],
        );
        assert_eq!(
            d.origin.as_deref(),
            Some("AWS::ElasticBeanstalk::Environment")
        );
        let eb = d.aws.elastic_beanstalk.unwrap();
        assert_eq!(eb.environment_name.as_deref(), Some("prod"));
        assert_eq!(eb.deployment_id.unwrap().as_i64(), Some(3));
        assert_eq!(d.aws.eks.unwrap().pod.as_deref(), Some("pod-1"));
        assert!(d.aws.ecs.is_some());
    }
}
