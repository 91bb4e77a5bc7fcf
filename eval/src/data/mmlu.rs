//! MMLU's subject groups as the evaluation uses them. The reader itself is
//! the library's ([`expertsteer::corpus::load_mmlu`]): the generic corpus
//! reads the same file.

/// Subject groups used by the evaluation (names as in MMLU, underscores).
pub const MMLU_GROUPS: &[(&str, &[&str])] = &[
    (
        "computer_science",
        &[
            "college_computer_science",
            "high_school_computer_science",
            "computer_security",
            "machine_learning",
        ],
    ),
    (
        "math",
        &[
            "abstract_algebra",
            "college_mathematics",
            "elementary_mathematics",
            "high_school_mathematics",
            "high_school_statistics",
        ],
    ),
    (
        "medical",
        &[
            "anatomy",
            "clinical_knowledge",
            "college_medicine",
            "medical_genetics",
            "professional_medicine",
            "nutrition",
            "virology",
        ],
    ),
    (
        "finance",
        &[
            "professional_accounting",
            "econometrics",
            "high_school_macroeconomics",
            "high_school_microeconomics",
        ],
    ),
];

/// The subjects of a named group, or None.
pub fn mmlu_subject_group(name: &str) -> Option<&'static [&'static str]> {
    MMLU_GROUPS
        .iter()
        .find(|(g, _)| *g == name)
        .map(|(_, s)| *s)
}
