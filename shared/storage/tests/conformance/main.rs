//! One conformance suite per port, run against both adapters: the embedded ones in-process, the AWS ones
//! against `moto_server` and a real `redis-server` started by the test command (`infra/test.sh`).
//! Test names read `<port>::<adapter>::<behaviour>`.

mod blobs;
mod bus;
mod cache;
mod keys;
mod queue;
mod schedules;
mod support;
mod table;
