//! One declaration per operation: its method and path, its typed action, and every parameter
//! it takes (type, limit, enum, required, alias). The same declaration routes the request,
//! refuses unknown and ill-typed parameters before the handler runs, hands the handler its
//! values ([`Args`], which reads with the declared limits), and becomes the operation's part of
//! the OpenAPI document (`crate::openapi`). A limit therefore exists once: it cannot be enforced
//! as one number and documented as another.
//!
//! Declarations are `const` data: a group's table is a `&'static [Op<Action>]` built with the
//! `const fn` builders below, so it costs the components no code at start-up.

use crate::error::{ApiError, ApiResult};
use crate::list::{DEFAULT_LIMIT, Page};
use crate::params::Params;
use serde_json::Value;
use std::borrow::Cow;

/// What a parameter is.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    /// Free text of at most `max` characters; in forms an empty value counts as absent.
    Str {
        max: usize,
    },
    /// Text whose form the handler checks (an ISO 4217 code, a URL...): at most `max` characters
    /// here, at most `shown` as documented (the handler's own check is stricter, with its own
    /// error code). `pattern` is documented only.
    Checked {
        max: usize,
        shown: usize,
        pattern: Option<&'static str>,
        /// Documented as an enum; the handler refuses other values with its own message.
        values: Option<&'static [&'static str]>,
    },
    /// One of these strings; an empty value is invalid, not absent.
    Enum(&'static [&'static str]),
    /// An integer. `min`/`max` are enforced here when `checked` (message: "`name` must be between
    /// `min` and `max`."); otherwise they are documented and the domain refuses with its own codes
    /// (an amount below a currency's minimum, say).
    Int {
        min: Option<i64>,
        max: Option<i64>,
        checked: bool,
    },
    Bool,
    /// `metadata`: string values, checked by [`crate::fields::metadata`].
    Metadata,
    /// A nested object with exactly these fields (`routing[preferred_acquirer]`).
    Object(&'static [Field]),
    /// As `Object`, checked only when the handler reads it ([`Args::object`]): after the state
    /// of the object it is about (a closed dispute's evidence is refused as closed, not as long).
    LateObject(&'static [Field]),
    /// A list of objects with exactly these fields each (`tiers[0][up_to]`, `items[][price]`),
    /// at most `max_items` of them; each element is named `name[i]` in errors.
    ObjectList {
        fields: &'static [Field],
        max_items: usize,
    },
    /// A list of strings with at least `min_items` items, checked by the handler (event types).
    StrList {
        min_items: usize,
    },
    /// `expand[]`: field paths out of these.
    Expand(&'static [&'static str]),
    /// An integer filter: `name=n`, or any of `name[gt|gte|lt|lte]=n`.
    IntFilter,
    /// A value whose shape the handler checks; `schema` documents it (dates: RFC 3339 or unix).
    Any {
        schema: fn() -> Value,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// Missing is a 400 `parameter_missing` naming it.
    pub required: bool,
    pub doc: Option<&'static str>,
    /// The documented default, as JSON text (`"10"`, `"true"`, `"\"daily\""`).
    pub default: Option<&'static str>,
    /// Documented as a query parameter of a POST too (the pipeline reads a POST's query
    /// parameters as body parameters the body does not set: seed 003's `?simulateDelay=30`).
    pub in_query: bool,
    /// Read from the request header of this name (seed 004's `x-business-id`), not from the
    /// query or the body: the pipeline copies the header in ([`header_params`]).
    pub in_header: bool,
    /// Another name for it (seed 003's camelCase beside our snake_case), read when `name` is not
    /// sent; only the name read is checked.
    pub alias: Option<&'static str>,
}

impl Field {
    const fn new(name: &'static str, ty: Ty) -> Field {
        Field {
            name,
            ty,
            required: false,
            doc: None,
            default: None,
            in_query: false,
            in_header: false,
            alias: None,
        }
    }
    pub const fn str(name: &'static str, max: usize) -> Field {
        Field::new(name, Ty::Str { max })
    }
    pub const fn checked(name: &'static str, max: usize) -> Field {
        Field::new(
            name,
            Ty::Checked {
                max,
                shown: max,
                pattern: None,
                values: None,
            },
        )
    }
    /// As [`Field::checked`], documented as at most `shown` characters: longer text up to `max`
    /// reaches the handler, whose check names the rule (`statement_descriptor_invalid`).
    pub const fn checked_within(name: &'static str, max: usize, shown: usize) -> Field {
        Field::new(
            name,
            Ty::Checked {
                max,
                shown,
                pattern: None,
                values: None,
            },
        )
    }
    pub const fn pattern(name: &'static str, max: usize, pattern: &'static str) -> Field {
        Field::new(
            name,
            Ty::Checked {
                max,
                shown: max,
                pattern: Some(pattern),
                values: None,
            },
        )
    }
    /// Text of at most `max` characters documented as one of `values`; the handler checks which
    /// (with its own message; spaces are allowed in a test card, say).
    pub const fn checked_in(name: &'static str, max: usize, values: &'static [&'static str]) -> Field {
        Field::new(
            name,
            Ty::Checked {
                max,
                shown: max,
                pattern: None,
                values: Some(values),
            },
        )
    }
    pub const fn one_of(name: &'static str, values: &'static [&'static str]) -> Field {
        Field::new(name, Ty::Enum(values))
    }
    pub const fn int(name: &'static str) -> Field {
        Field::new(
            name,
            Ty::Int {
                min: None,
                max: None,
                checked: false,
            },
        )
    }
    /// An integer that must lie in `min..=max` (refused here, with the standard message).
    pub const fn int_in(name: &'static str, min: i64, max: i64) -> Field {
        Field::new(
            name,
            Ty::Int {
                min: Some(min),
                max: Some(max),
                checked: true,
            },
        )
    }
    /// An integer documented as at least `min`; the domain refuses smaller ones with its code.
    pub const fn int_min(name: &'static str, min: i64) -> Field {
        Field::new(
            name,
            Ty::Int {
                min: Some(min),
                max: None,
                checked: false,
            },
        )
    }
    pub const fn bool(name: &'static str) -> Field {
        Field::new(name, Ty::Bool)
    }
    pub const fn metadata() -> Field {
        Field::new("metadata", Ty::Metadata)
    }
    pub const fn object(name: &'static str, fields: &'static [Field]) -> Field {
        Field::new(name, Ty::Object(fields))
    }
    pub const fn late_object(name: &'static str, fields: &'static [Field]) -> Field {
        Field::new(name, Ty::LateObject(fields))
    }
    pub const fn objects(name: &'static str, fields: &'static [Field], max_items: usize) -> Field {
        Field::new(name, Ty::ObjectList { fields, max_items })
    }
    pub const fn str_list(name: &'static str, min_items: usize) -> Field {
        Field::new(name, Ty::StrList { min_items })
    }
    pub const fn expand(paths: &'static [&'static str]) -> Field {
        Field::new("expand", Ty::Expand(paths))
    }
    pub const fn int_filter(name: &'static str) -> Field {
        Field::new(name, Ty::IntFilter)
    }
    pub const fn any(name: &'static str, schema: fn() -> Value) -> Field {
        Field::new(name, Ty::Any { schema })
    }
    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub const fn doc(mut self, doc: &'static str) -> Field {
        self.doc = Some(doc);
        self
    }
    pub const fn default(mut self, json: &'static str) -> Field {
        self.default = Some(json);
        self
    }
    pub const fn alias(mut self, alias: &'static str) -> Field {
        self.alias = Some(alias);
        self
    }
    /// The name a request uses for it: the alias when only the alias is sent.
    pub fn used_name(&self, p: &Params) -> &'static str {
        match self.alias {
            Some(alias) if p.has(alias) && !p.has(self.name) => alias,
            _ => self.name,
        }
    }
    pub const fn in_query(mut self) -> Field {
        self.in_query = true;
        self
    }
    pub const fn header(mut self) -> Field {
        self.in_header = true;
        self
    }
}

/// Puts the declared header fields of `fields` into `p` under their names, as sent in `header`
/// (a value of that name from the query or body is dropped: the header is the only source).
pub fn header_params<'h>(fields: &[Field], p: &mut Params, header: impl Fn(&str) -> Option<&'h str>) {
    for f in fields.iter().filter(|f| f.in_header) {
        p.root.remove(f.name);
        if let Some(v) = header(f.name) {
            p.root.insert(f.name.to_string(), Value::String(v.to_string()));
        }
    }
}

/// What a successful call answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// JSON: the component schema of that name.
    Json(&'static str),
    /// A download of this media type, described in words.
    Raw { media: &'static str, doc: &'static str },
}

/// Who may not call it (the 403's description in the document).
pub const FORBIDDEN: &str = "A public key, or a live key where only the sandbox processes.";

/// One operation: its declaration and what the group's handler does for it.
#[derive(Clone, Copy, Debug)]
pub struct Op<A: 'static> {
    pub spec: Spec,
    pub action: A,
}

/// An operation's declaration without its group-specific action: what treats every group alike
/// (the pipeline's checks, the document) reads this.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub method: &'static str,
    /// The path after `/v1/`; a `:id` segment captures the object id.
    pub path: &'static str,
    /// Stable name: the document's `operationId` is `<group>_<name>`.
    pub name: &'static str,
    pub summary: &'static str,
    pub fields: &'static [Field],
    /// A cursor list: `limit`, `starting_after` and `ending_before` come first.
    pub list: bool,
    pub answer: Answer,
    pub forbidden: &'static str,
    /// Refused to live keys with this message (403 `sandbox_only`), before its parameters are
    /// checked.
    pub sandbox_only: Option<&'static str>,
    /// Its fields are checked by the handler once it has loaded the object the call is about,
    /// so a missing object is a 404 whatever the parameters (unknown names are refused first).
    pub after_load: bool,
    /// Fields of the answer that hold a secret shown once (a webhook secret, a device key): the
    /// copy kept for idempotent replays has them `null` (docs/security.md).
    pub shown_once: &'static [&'static str],
    /// One of seed 004's operations: its idempotency key (`x-idempotency-key`) must have at least
    /// [`SEED004_MIN_KEY`] characters, as that seed asks (docs/intents.md).
    pub seed004: bool,
}

/// Seed 004: "a unique value of at least 10 characters".
pub const SEED004_MIN_KEY: usize = 10;

/// Whether requests of `method` carry their parameters in the body (and may be idempotent).
pub fn has_body(method: &str) -> bool {
    method == "POST" || method == "PATCH"
}

impl<A: Copy> Op<A> {
    pub const fn new(method: &'static str, path: &'static str, name: &'static str, action: A) -> Op<A> {
        let spec = Spec {
            method,
            path,
            name,
            summary: "",
            fields: &[],
            list: false,
            answer: Answer::Json(""),
            forbidden: FORBIDDEN,
            sandbox_only: None,
            after_load: false,
            shown_once: &[],
            seed004: false,
        };
        Op { spec, action }
    }
    pub const fn get(path: &'static str, name: &'static str, action: A) -> Op<A> {
        Op::new("GET", path, name, action)
    }
    pub const fn post(path: &'static str, name: &'static str, action: A) -> Op<A> {
        Op::new("POST", path, name, action)
    }
    pub const fn patch(path: &'static str, name: &'static str, action: A) -> Op<A> {
        Op::new("PATCH", path, name, action)
    }
    pub const fn delete(path: &'static str, name: &'static str, action: A) -> Op<A> {
        Op::new("DELETE", path, name, action)
    }
    pub const fn summary(mut self, s: &'static str) -> Op<A> {
        self.spec.summary = s;
        self
    }
    pub const fn fields(mut self, f: &'static [Field]) -> Op<A> {
        self.spec.fields = f;
        self
    }
    pub const fn list(mut self) -> Op<A> {
        self.spec.list = true;
        self
    }
    pub const fn answers(mut self, schema: &'static str) -> Op<A> {
        self.spec.answer = Answer::Json(schema);
        self
    }
    pub const fn answers_raw(mut self, media: &'static str, doc: &'static str) -> Op<A> {
        self.spec.answer = Answer::Raw { media, doc };
        self
    }
    pub const fn forbidden(mut self, s: &'static str) -> Op<A> {
        self.spec.forbidden = s;
        self
    }
    pub const fn checked_after_load(mut self) -> Op<A> {
        self.spec.after_load = true;
        self
    }
    /// The answer's `fields` are secrets shown once: never stored for replays.
    pub const fn shows_once(mut self, fields: &'static [&'static str]) -> Op<A> {
        self.spec.shown_once = fields;
        self
    }
    /// Seed 004's conventions for this operation ([`Spec::seed004`]).
    pub const fn seed004(mut self) -> Op<A> {
        self.spec.seed004 = true;
        self
    }
    pub const fn sandbox_only(mut self, message: &'static str) -> Op<A> {
        self.spec.sandbox_only = Some(message);
        self
    }
}

/// The cursor parameters of every list ([`Args::page`] reads them).
pub const PAGE_FIELDS: &[Field] = &[
    Field::int_in("limit", 1, crate::list::MAX_LIMIT).default("10"),
    Field::str("starting_after", 100).doc("An object id: the page after it (older objects)."),
    Field::str("ending_before", 100).doc("An object id: the page before it (newer objects)."),
];

impl Spec {
    /// The cursor parameters, for a list.
    pub fn page_fields(&self) -> &'static [Field] {
        if self.list { PAGE_FIELDS } else { &[] }
    }

    /// Every parameter, the list's cursor parameters first.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static Field> + use<> {
        self.page_fields().iter().chain(self.fields.iter())
    }

    /// The 403 of a sandbox-only operation called with a live key.
    pub fn refuse_live(&self, livemode: bool) -> ApiResult<()> {
        match self.sandbox_only {
            Some(message) if livemode => Err(ApiError::new(403, "permission_error", "sandbox_only", message)),
            _ => Ok(()),
        }
    }
}

/// Checks `p` against `fields`: unknown names first (catches typos like `ammount`), then each
/// declared field in order (required, type, limit, enum). `parent` names a nested object.
pub fn check(fields: &[Field], extra: &[Field], p: &Params, parent: Option<&str>) -> ApiResult<()> {
    check_names(fields, extra, p, parent)?;
    extra.iter().chain(fields).try_for_each(|f| check_field(f, p, parent))
}

/// Refuses a name that none of `fields` and `extra` declares (nor as an alias).
pub fn check_names(fields: &[Field], extra: &[Field], p: &Params, parent: Option<&str>) -> ApiResult<()> {
    let known = |k: &str| fields.iter().chain(extra).any(|f| f.name == k || f.alias == Some(k));
    match p.root.keys().find(|k| !known(k)) {
        Some(k) => {
            let name = display(parent, k);
            Err(ApiError::invalid(
                &name,
                "parameter_unknown",
                format!("Received unknown parameter: {name}."),
            ))
        }
        None => Ok(()),
    }
}

/// What the pipeline checks before the handler runs: every name, the list's cursor, and the
/// declared fields unless the operation checks them after loading its object
/// ([`Op::checked_after_load`], then [`Args::check_after_load`]).
pub fn check_before_handler(spec: &Spec, p: &Params) -> ApiResult<()> {
    let page = spec.page_fields();
    if spec.after_load {
        check_names(spec.fields, page, p, None)?;
        page.iter().try_for_each(|f| check_field(f, p, None))
    } else {
        check(spec.fields, page, p, None)
    }
}

fn display(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(parent) => format!("{parent}[{name}]"),
        None => name.to_string(),
    }
}

fn check_field(f: &Field, p: &Params, parent: Option<&str>) -> ApiResult<()> {
    // The name sent: an alias is checked only when it is what the handler will read.
    let key = f.used_name(p);
    let name = display(parent, key);
    let present = match f.ty {
        Ty::Str { max } | Ty::Checked { max, .. } => p.str_named(key, &name, max)?.is_some(),
        Ty::Enum(values) => one_of_named(p, key, &name, values)?.is_some(),
        Ty::Int { min, max, checked } => match p.integer_named(key, &name)? {
            Some(n) => {
                if checked && (min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m)) {
                    return Err(out_of_range(&name, min, max));
                }
                true
            }
            None => false,
        },
        Ty::Bool => p.boolean(key)?.is_some(),
        Ty::Metadata => crate::fields::metadata(p)?.is_some(),
        Ty::Object(inner) => match p.object(key)? {
            Some(o) => {
                check(inner, &[], &o, Some(&name))?;
                true
            }
            None => false,
        },
        Ty::Expand(paths) => !p.expand(paths)?.is_empty(),
        // An object now; its fields when the handler reads it.
        Ty::LateObject(_) => p.object(key)?.is_some(),
        Ty::IntFilter => match (p.raw(key), p.object(key)) {
            (Some(Value::Object(_)), Ok(Some(range))) => {
                check(RANGE_FIELDS, &[], &range, Some(&name))?;
                true
            }
            _ => p.integer_named(key, &name)?.is_some(),
        },
        Ty::ObjectList { fields, max_items } => {
            let items = object_list(p, key, &name, max_items)?;
            for (i, item) in items.iter().enumerate() {
                check(fields, &[], item, Some(&format!("{name}[{i}]")))?;
            }
            !items.is_empty()
        }
        Ty::StrList { .. } | Ty::Any { .. } => p.raw(key).is_some(),
    };
    if f.required && !present {
        return Err(ApiError::missing(&name));
    }
    Ok(())
}

/// The elements of an [`Ty::ObjectList`], each as its own parameter set.
fn object_list(p: &Params, key: &str, name: &str, max_items: usize) -> ApiResult<Vec<Params>> {
    let items = match p.raw(key) {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() && p.form => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid(
                name,
                "parameter_invalid_array",
                format!("Invalid array: {name} must be a list of objects ({name}[0][...] in a form)."),
            ));
        }
    };
    if items.len() > max_items {
        return Err(ApiError::invalid(
            name,
            "parameter_invalid_array",
            format!("{name} takes at most {max_items} items."),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(m) => Ok(Params {
                root: m.clone(),
                form: p.form,
                ..Params::default()
            }),
            _ => Err(ApiError::invalid(
                &format!("{name}[{i}]"),
                "parameter_invalid_object",
                format!("Invalid object: {name}[{i}] must be an object."),
            )),
        })
        .collect()
}

/// The bounds of an [`Ty::IntFilter`].
pub const RANGE_FIELDS: &[Field] = &[Field::int("gt"), Field::int("gte"), Field::int("lt"), Field::int("lte")];

fn out_of_range(name: &str, min: Option<i64>, max: Option<i64>) -> ApiError {
    let message = match (min, max) {
        (Some(lo), Some(hi)) => format!("{name} must be between {lo} and {hi}."),
        (Some(lo), None) => format!("{name} must be at least {lo}."),
        (None, Some(hi)) => format!("{name} must be at most {hi}."),
        (None, None) => format!("{name} is out of range."),
    };
    ApiError::invalid(name, "parameter_invalid_integer", message)
}

fn one_of_named(p: &Params, name: &str, display: &str, values: &[&str]) -> ApiResult<Option<String>> {
    p.one_of(name, values).map_err(|e| ApiError {
        param: Some(display.to_string()),
        message: format!("{display} must be one of: {}.", values.join(", ")),
        ..e
    })
}

/// A handler's parameters, read through their declaration: each accessor applies the declared
/// type and limit, so a handler names a parameter and never restates its limit. Reading a name
/// the operation does not declare is a programming error, answered as a 500 (and caught by the
/// conformance suite) rather than silently reading an unchecked value.
pub struct Args<'a> {
    params: Cow<'a, Params>,
    fields: &'static [Field],
    /// How errors name this set's parameters' parent (`routing`, `tiers[1]`).
    parent: Option<String>,
}

impl<'a> Args<'a> {
    /// `p`, already checked against `fields` (the pipeline does it for every operation).
    pub fn new(params: &'a Params, fields: &'static [Field]) -> Args<'a> {
        Args {
            params: Cow::Borrowed(params),
            fields,
            parent: None,
        }
    }

    /// The raw parameters, for readers that take them whole (metadata, the list cursor).
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn field(&self, name: &str) -> ApiResult<&'static Field> {
        self.fields
            .iter()
            .chain(PAGE_FIELDS)
            .find(|f| f.name == name)
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "the handler reads `{name}`, which its operation does not declare"
                ))
            })
    }

    /// How errors name the field `name` of this set (`records[3][timestamp]`).
    pub fn display(&self, name: &str) -> String {
        display(self.parent.as_deref(), name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.params.has(name)
    }

    /// The declaration of `name` and the name this request uses for it (its alias, when only
    /// the alias was sent).
    fn key(&self, name: &str) -> ApiResult<(&'static Field, &'static str)> {
        let f = self.field(name)?;
        Ok((f, f.used_name(&self.params)))
    }

    pub fn raw(&self, name: &str) -> ApiResult<Option<&Value>> {
        let (_, key) = self.key(name)?;
        Ok(self.params.raw(key))
    }

    /// As [`Args::raw`] for a list parameter ([`Params::list_raw`]: a form's repeated key).
    pub fn list_raw(&self, name: &str) -> ApiResult<Option<&Value>> {
        let (_, key) = self.key(name)?;
        Ok(self.params.list_raw(key))
    }

    /// A text parameter (free or checked), at most its declared length.
    pub fn string(&self, name: &str) -> ApiResult<Option<String>> {
        match self.key(name)? {
            (
                Field {
                    ty: Ty::Str { max } | Ty::Checked { max, .. },
                    ..
                },
                key,
            ) => self.params.string_named(key, &self.display(key), *max),
            _ => Err(wrong_reader(name)),
        }
    }

    pub fn required_string(&self, name: &str) -> ApiResult<String> {
        self.string(name)?.ok_or_else(|| ApiError::missing(&self.display(name)))
    }

    pub fn one_of(&self, name: &str) -> ApiResult<Option<String>> {
        match self.key(name)? {
            (
                Field {
                    ty: Ty::Enum(values), ..
                },
                key,
            ) => one_of_named(&self.params, key, &self.display(key), values),
            _ => Err(wrong_reader(name)),
        }
    }

    pub fn integer(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.key(name)? {
            (Field { ty: Ty::Int { .. }, .. }, key) => self.params.integer_named(key, &self.display(key)),
            _ => Err(wrong_reader(name)),
        }
    }

    pub fn boolean(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.key(name)? {
            (Field { ty: Ty::Bool, .. }, key) => self.params.boolean(key),
            _ => Err(wrong_reader(name)),
        }
    }

    /// An optional text field of an update: absent → unchanged (None); empty or null →
    /// cleared (Some(None)).
    pub fn update_text(&self, name: &str) -> ApiResult<Option<Option<String>>> {
        match self.params.root.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
            Some(_) => Ok(Some(self.string(name)?)),
        }
    }

    /// The name this request uses for `name` (for messages that name it).
    pub fn name_used(&self, name: &str) -> ApiResult<&'static str> {
        Ok(self.key(name)?.1)
    }

    /// Checks the declared fields of an operation declared [`Op::checked_after_load`]: its
    /// handler calls this once it has loaded (and so 404'd) the object the call is about.
    pub fn check_after_load(&self) -> ApiResult<()> {
        self.fields
            .iter()
            .try_for_each(|f| check_field(f, &self.params, self.parent.as_deref()))
    }

    /// A nested object's fields, read through their own declarations.
    pub fn object(&self, name: &'static str) -> ApiResult<Option<Args<'a>>> {
        let (fields, late) = match self.field(name)?.ty {
            Ty::Object(fields) => (fields, false),
            Ty::LateObject(fields) => (fields, true),
            _ => return Err(wrong_reader(name)),
        };
        // The nested values, as their own parameter set (the pipeline checked them already,
        // unless they are checked late: here).
        let nested = self.params.object(name)?;
        if let (true, Some(o)) = (late, &nested) {
            check(fields, &[], o, Some(&self.display(name)))?;
        }
        Ok(nested.map(|p| Args {
            params: Cow::Owned(p),
            fields,
            parent: Some(self.display(name)),
        }))
    }

    /// The elements of a list of objects, each read through the list's field declarations
    /// (the pipeline checked them already).
    pub fn objects(&self, name: &'static str) -> ApiResult<Vec<Args<'a>>> {
        let Ty::ObjectList { fields, max_items } = self.field(name)?.ty else {
            return Err(wrong_reader(name));
        };
        let display = self.display(name);
        Ok(object_list(&self.params, name, &display, max_items)?
            .into_iter()
            .enumerate()
            .map(|(i, p)| Args {
                params: Cow::Owned(p),
                fields,
                parent: Some(format!("{display}[{i}]")),
            })
            .collect())
    }

    /// An integer filter's conditions as (SQL comparison, value): `=` for `name=n`, else one per
    /// bound given, `>` `>=` `<` `<=` for `name[gt|gte|lt|lte]=n`.
    pub fn int_filter(&self, name: &str) -> ApiResult<Vec<(&'static str, i64)>> {
        let Ty::IntFilter = self.field(name)?.ty else {
            return Err(wrong_reader(name));
        };
        let display = self.display(name);
        let Some(Value::Object(_)) = self.params.raw(name) else {
            return Ok(self
                .params
                .integer_named(name, &display)?
                .map(|n| vec![("=", n)])
                .unwrap_or_default());
        };
        let Some(range) = self.params.object(name)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (bound, op) in RANGE_FIELDS.iter().map(|f| f.name).zip([">", ">=", "<", "<="]) {
            if let Some(n) = range.integer_named(bound, &format!("{display}[{bound}]"))? {
                out.push((op, n));
            }
        }
        Ok(out)
    }

    /// The cursor of a list operation (its limits are [`PAGE_FIELDS`]).
    pub fn page(&self) -> ApiResult<Page> {
        let starting_after = self.string("starting_after")?;
        let ending_before = self.string("ending_before")?;
        if starting_after.is_some() && ending_before.is_some() {
            return Err(ApiError::invalid(
                "ending_before",
                "parameter_invalid",
                "Pass starting_after or ending_before, not both.",
            ));
        }
        Ok(Page {
            limit: self.integer("limit")?.unwrap_or(DEFAULT_LIMIT),
            starting_after,
            ending_before,
        })
    }

    /// `expand[]`, checked against the declared paths.
    pub fn expand(&self) -> ApiResult<Vec<String>> {
        match self.field("expand")?.ty {
            Ty::Expand(paths) => self.params.expand(paths),
            _ => Err(wrong_reader("expand")),
        }
    }
}

fn wrong_reader(name: &str) -> ApiError {
    ApiError::internal(format!(
        "the handler reads `{name}` as another type than its declaration"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Group;

    const FIELDS: &[Field] = &[
        Field::str("name", 5),
        Field::checked_within("descriptor", 10, 4),
        Field::int_in("seconds", 1, 60).required(),
        Field::one_of("mode", &["a", "b"]),
        Field::object("routing", &[Field::str("acquirer", 3)]),
        Field::int_filter("created"),
        Field::late_object("evidence", &[Field::str("text", 3)]),
    ];

    fn form(body: &str) -> Params {
        Params::from_body(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap()
    }

    fn refusal(body: &str) -> (String, String, String) {
        let e = check(FIELDS, &[], &form(body), None).unwrap_err();
        (e.code.to_string(), e.param.unwrap_or_default(), e.message)
    }

    #[test]
    fn the_declaration_refuses_what_it_does_not_allow() {
        assert!(
            check(
                FIELDS,
                &[],
                &form("seconds=5&name=abc&mode=a&routing[acquirer]=x"),
                None
            )
            .is_ok()
        );
        assert_eq!(refusal("seconds=5&nmae=x").0, "parameter_unknown");
        assert_eq!(refusal("seconds=5&routing[x]=1").1, "routing[x]");
        assert_eq!(refusal("name=x").0, "parameter_missing");
        assert_eq!(refusal("seconds=5&name=abcdef").0, "string_too_long");
        assert_eq!(refusal("seconds=5&routing[acquirer]=abcd").1, "routing[acquirer]");
        let (code, param, message) = refusal("seconds=61");
        assert_eq!(
            (code.as_str(), param.as_str()),
            ("parameter_invalid_integer", "seconds")
        );
        assert_eq!(message, "seconds must be between 1 and 60.");
        assert_eq!(refusal("seconds=5&mode=c").2, "mode must be one of: a, b.");
        // Up to the read limit reaches the handler, whose rule names the problem.
        assert!(check(FIELDS, &[], &form("seconds=5&descriptor=123456789"), None).is_ok());
        assert_eq!(refusal("seconds=5&descriptor=12345678901").0, "string_too_long");
        assert!(check(FIELDS, &[], &form("seconds=5&created[gte]=1&created[lt]=9"), None).is_ok());
        assert!(check(FIELDS, &[], &form("seconds=5&created=7"), None).is_ok());
        assert_eq!(refusal("seconds=5&created[after]=1").1, "created[after]");
        assert_eq!(refusal("seconds=5&created=soon").0, "parameter_invalid_integer");
        let p = form("seconds=5&created[gte]=1&created[lt]=9");
        assert_eq!(
            Args::new(&p, FIELDS).int_filter("created").unwrap(),
            [(">=", 1), ("<", 9)]
        );
        let p = form("seconds=5&created=7");
        assert_eq!(Args::new(&p, FIELDS).int_filter("created").unwrap(), [("=", 7)]);
    }

    #[test]
    fn an_alias_is_read_and_checked_only_when_the_name_is_not_sent() {
        const PAIR: &[Field] = &[Field::one_of("captureMethod", &["automatic", "manual"]).alias("capture_method")];
        // The camelCase name wins: the snake_case one is not read, so not checked.
        let p = form("captureMethod=manual&capture_method=bogus");
        assert!(check(PAIR, &[], &p, None).is_ok());
        assert_eq!(
            Args::new(&p, PAIR).one_of("captureMethod").unwrap().as_deref(),
            Some("manual")
        );
        let p = form("capture_method=manual");
        assert_eq!(
            Args::new(&p, PAIR).one_of("captureMethod").unwrap().as_deref(),
            Some("manual")
        );
        let e = check(PAIR, &[], &form("capture_method=bogus"), None).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("capture_method"));
        assert_eq!(
            Args::new(&form(""), PAIR).name_used("captureMethod").unwrap(),
            "captureMethod"
        );
    }

    #[test]
    fn after_load_operations_check_names_and_cursor_first_and_fields_when_asked() {
        static OPS: &[Op<()>] = &[Op::get("x/:id/items", "items", ())
            .list()
            .checked_after_load()
            .fields(&[Field::one_of("status", &["a"])])];
        let op = &OPS[0].spec;
        assert!(check_before_handler(op, &form("status=bogus")).is_ok());
        assert_eq!(
            check_before_handler(op, &form("statuss=a")).unwrap_err().code,
            "parameter_unknown"
        );
        assert_eq!(
            check_before_handler(op, &form("limit=0")).unwrap_err().param.as_deref(),
            Some("limit")
        );
        let p = form("status=bogus");
        let e = Args::new(&p, op.fields).check_after_load().unwrap_err();
        assert_eq!(e.param.as_deref(), Some("status"));
    }

    #[test]
    fn late_objects_are_checked_when_read() {
        let p = form("seconds=5&evidence[text]=toolong");
        assert!(check(FIELDS, &[], &p, None).is_ok());
        // Not an object at all is refused at once.
        assert_eq!(refusal("seconds=5&evidence=abc").0, "parameter_invalid_object");
        let args = Args::new(&p, FIELDS);
        let e = args.object("evidence").err().unwrap();
        assert_eq!(
            (e.code, e.param.as_deref()),
            ("string_too_long", Some("evidence[text]"))
        );
    }

    #[test]
    fn handlers_read_through_the_declaration() {
        let p = form("seconds=5&name=abc&routing[acquirer]=eu");
        let args = Args::new(&p, FIELDS);
        assert_eq!(args.string("name").unwrap().as_deref(), Some("abc"));
        assert_eq!(args.integer("seconds").unwrap(), Some(5));
        let routing = args.object("routing").unwrap().unwrap();
        assert_eq!(routing.string("acquirer").unwrap().as_deref(), Some("eu"));
        // Reading what is not declared, or as another type, is the handler's bug: a 500.
        assert_eq!(args.string("undeclared").unwrap_err().status, 500);
        assert_eq!(args.integer("name").unwrap_err().status, 500);
    }

    #[test]
    fn every_declaration_is_well_formed() {
        for group in Group::ALL {
            let specs = group.specs();
            for (i, spec) in specs.iter().enumerate() {
                let names: Vec<&str> = spec.all_fields().map(|f| f.name).collect();
                let mut unique = names.clone();
                unique.sort();
                unique.dedup();
                assert_eq!(
                    unique.len(),
                    names.len(),
                    "{group:?} {}: a parameter declared twice",
                    spec.name
                );
                assert!(!spec.summary.is_empty(), "{group:?} {}: no summary", spec.name);
                assert!(
                    !specs[..i]
                        .iter()
                        .any(|o| o.method == spec.method && o.path == spec.path),
                    "{group:?}: {} {} declared twice",
                    spec.method,
                    spec.path
                );
                if spec.method == "GET" {
                    assert!(
                        // A header (x-business-id) may be required; a query may not.
                        spec.fields.iter().all(|f| !f.required || f.in_header),
                        "{group:?} {}: a required query",
                        spec.name
                    );
                }
                for f in spec.all_fields() {
                    if let Some(d) = f.default {
                        assert!(
                            serde_json::from_str::<Value>(d).is_ok(),
                            "{}: default {d} is not JSON",
                            f.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn literal_segments_win_and_other_methods_are_a_405() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum A {
            Search,
            Get,
        }
        static OPS: &[Op<A>] = &[
            Op::post("t/search", "search", A::Search),
            Op::get("t/:id", "get", A::Get),
        ];
        let (op, id) = crate::api::match_op(OPS, "POST", &["t", "search"]).unwrap();
        assert_eq!((op.action, id), (A::Search, None));
        let (op, id) = crate::api::match_op(OPS, "GET", &["t", "x1"]).unwrap();
        assert_eq!((op.action, id.as_deref()), (A::Get, Some("x1")));
        let e = crate::api::match_op(OPS, "GET", &["t", "search"]).unwrap_err();
        assert_eq!((e.status, e.allow.as_deref()), (405, Some("POST")));
        assert_eq!(crate::api::match_op(OPS, "GET", &["t", ""]).unwrap_err().status, 404);
    }
}
