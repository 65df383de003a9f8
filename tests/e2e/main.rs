//! All end-to-end and conformance tests, built as one test binary.
//!
//! - `store`, `keys`, `bus`: one conformance suite per port, run against the embedded
//!   adapter and the AWS adapter (on moto server).
//! - `edge`: the live edge against a local capture server; the sandbox edge sends nothing.
//! - `describe`: plain words to a provider, with the labelled accuracy set.
//! - `plain_words`: describe's prompt, then compile and a sandbox run, as a new user meets them.
//! - `integrations`: creating integrations, Custom HTTP declarations.
//! - `mocks`: sandbox mocks answer with the provider's status, body and ids.
//! - `conformance`, `conformance_google`, `conformance_linear`: every operation's request
//!   and mock against the provider's own API description (OpenAPI or Swagger, Google's
//!   discovery documents, Linear's GraphQL schema).
//! - `catalog_depth_1`: the catalog's added read, search and update operations, each from
//!   plain words to a sandbox request.
//! - `runtime`: sandbox and live runs, retries, rotation mid-run, isolation.
//! - `canary`: planted secrets never reach any output.
//! - `catalog_depth_2`: each operation added in the second depth set, picked by plain words
//!   and run in the sandbox.
//! - `google_docs_operations`: filling a Docs template and inserting an image, from plain
//!   words to the sandbox's one reply per request.
//! - `smart`: SMART on FHIR Backend Services tokens for live FHIR steps.
//! - `notion_verification`: revealing Notion's handshake token once, then signed events.
//! - `api`: the studio API through the local router, over embedded adapters.
//! - `lambda_events`: every sample in `events/` through the Lambda entry point.
//! - `openapi`: the OpenAPI document is current, valid OpenAPI 3.1, served by the local
//!   router, and what the API answers.
//! - `template`: template.yaml agrees with the code's routes and event rules.
//! - `verify`: the connection check against local servers.

mod api;
mod aws_app;
mod aws_walkthrough;
mod bus;
mod canary;
mod catalog_depth_1;
mod catalog_depth_2;
mod compile;
mod conformance;
mod conformance_fhir;
mod conformance_google;
mod conformance_linear;
mod delete_race;
mod describe;
mod edge;
mod fetch;
mod google_docs_operations;
mod integrations;
mod keys;
mod lambda_events;
mod localstripe;
mod mcp;
mod mocks;
mod notion_verification;
mod oauth;
mod openapi;
mod origins;
mod plain_words;
mod robustness;
mod runtime;
mod smart;
mod store;
mod template;
mod vault;
mod verify;
mod webhooks;
