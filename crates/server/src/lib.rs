//! The modelgate server: configuration, start-up, the admin API and what each listener serves.

pub mod admin;
pub mod anthropic;
pub mod app;
pub mod catalog;
pub mod config;
pub mod docs;
pub mod gateway;
pub mod log_output;
pub mod openai;
mod raw_fields;
pub mod startup;
mod upstream_usage;
