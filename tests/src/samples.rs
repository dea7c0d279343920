//! The shared sample projects with the inputs every suite runs them with and the result
//! they must give: one table for the buildpack, host and cluster suites alike.

use serde_json::{Value, json};

/// A fixture project, its inputs and its expected final result.
#[derive(Debug, Clone)]
pub struct Sample {
    pub fixture: &'static str,
    pub data: Option<Value>,
    pub params: Option<Value>,
    /// What the job returns (for a failing job: its `ErrorResponse`).
    pub result: Value,
}

impl Sample {
    /// The inputs as `(name, value)` pairs, for the CLI's `--data` and `--params`.
    #[must_use]
    pub fn inputs(&self) -> Vec<(&'static str, Value)> {
        [("data", &self.data), ("params", &self.params)]
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
            .collect()
    }
}

/// The `PlanQK` template: statistics of the values, printed progress on stdout.
#[must_use]
pub fn planqk_template() -> Sample {
    Sample {
        fixture: "planqk-template",
        data: Some(json!({"values": [100, 50, 200, 70, 0.69]})),
        params: Some(json!({"round_off": false})),
        result: json!({"result": {"mean": 84.138, "spread": 199.31}, "metadata": {"count": 5}}),
    }
}

/// `run(**kwargs)`: echoes the word as many times as asked.
#[must_use]
pub fn kwargs_style() -> Sample {
    Sample {
        fixture: "kwargs-style",
        data: Some(json!({"word": "hi"})),
        params: Some(json!({"times": 3})),
        result: json!({"echo": "hi hi hi", "keys": ["data", "params"]}),
    }
}

/// numpy, a dependency from `requirements.txt`, computes the result.
#[must_use]
pub fn numpy_result() -> Sample {
    Sample {
        fixture: "numpy-result",
        data: Some(json!({"matrix": [[2.0, 0.0], [0.0, 3.0]]})),
        params: None,
        result: json!({"eigenvalues": [4.0, 9.0], "trace": 5.0, "shape": [2, 2]}),
    }
}

/// A job whose `run()` raises: exit code 1 and this error.
#[must_use]
pub fn failing() -> Sample {
    Sample {
        fixture: "contract-raises",
        data: None,
        params: None,
        result: json!({"code": "exception", "detail": "ValueError: the answer is not 42"}),
    }
}
