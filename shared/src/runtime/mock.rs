//! Mock responses for sandbox steps. (Placeholder while it is written: helper-7 owns
//! this file and replaces this content.)

use serde_json::Value;

use crate::catalog::Operation;

pub fn mock_response(_operation: &Operation, _input: &Value, _seed: &str) -> Value {
    Value::Null
}
