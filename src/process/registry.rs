//! The table of functions a worker process may run ([`Registry`]), and the
//! typed handles that name them ([`Remote`]).
//!
//! Parent and worker run the same program, so they build the same table:
//! the wire carries a function's index in it, and the handshake compares a
//! fingerprint of the whole table (names and argument/result types), so a
//! worker built from a different table is refused instead of running the
//! wrong function.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::RemoteError;

/// The functions that worker processes may run; built identically in every
/// process, with [`registry!`](crate::registry).
///
/// Pass the same `&'static Registry` to [`bootstrap`](super::bootstrap) and
/// to [`ProcessPool::builder`](super::ProcessPool::builder).
///
/// # Examples
///
/// ```
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// fn greet(name: String) -> String {
///     format!("hello, {name}")
/// }
/// static TASKS: stealpool::process::Registry = stealpool::registry![square, greet];
///
/// assert_eq!(TASKS.len(), 2);
/// assert_eq!(TASKS.names().collect::<Vec<_>>(), ["square", "greet"]);
/// ```
pub struct Registry {
    entries: &'static [Entry],
}

/// One registered function, type-erased (built by [`registry!`](crate::registry)).
#[doc(hidden)]
pub struct Entry {
    name: &'static str,
    call: fn(&[u8]) -> Result<Vec<u8>, RemoteError>,
    types: fn() -> (&'static str, &'static str),
}

impl Entry {
    /// Used by [`registry!`](crate::registry); not a stable API.
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        call: fn(&[u8]) -> Result<Vec<u8>, RemoteError>,
        types: fn() -> (&'static str, &'static str),
    ) -> Entry {
        Entry { name, call, types }
    }

    /// Decodes the arguments, calls the function, encodes its result. A
    /// panic in the function unwinds out of here (the worker catches it).
    pub(crate) fn call(&self, args: &[u8]) -> Result<Vec<u8>, RemoteError> {
        (self.call)(args)
    }

    /// The registered name.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The argument and result type names.
    pub(crate) fn types(&self) -> (&'static str, &'static str) {
        (self.types)()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (args, result) = (self.types)();
        write!(f, "{}: fn({args}) -> {result}", self.name)
    }
}

impl Registry {
    /// Used by [`registry!`](crate::registry); not a stable API.
    #[doc(hidden)]
    pub const fn __new(entries: &'static [Entry]) -> Registry {
        Registry { entries }
    }

    /// How many functions are registered.
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(x: u8) -> u8 { x }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![id];
    /// assert_eq!(TASKS.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no function is registered.
    ///
    /// # Examples
    ///
    /// ```
    /// static NONE: stealpool::process::Registry = stealpool::registry![];
    /// assert!(NONE.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The registered names, in registration order (each as written in
    /// `registry!`).
    ///
    /// # Examples
    ///
    /// ```
    /// mod jobs { pub fn twice(x: u32) -> u32 { 2 * x } }
    /// static TASKS: stealpool::process::Registry = stealpool::registry![jobs::twice];
    /// assert_eq!(TASKS.names().next(), Some("jobs::twice"));
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|entry| entry.name)
    }

    /// The index of the function registered as `name`. Paths match as
    /// written, up to blanks and a leading `self::` or `crate::` (so
    /// `remote!(self::sq)` finds `registry![sq]` in the same module).
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        let index = self
            .entries
            .iter()
            .position(|entry| same_path(entry.name, name))?;
        Some(u32::try_from(index).expect("fewer than 2^32 registered functions"))
    }

    /// The index of `f`'s function, or the documented panic of a pool's
    /// `method` (`ProcessPool::submit`, ...): not registered (listing the
    /// registered paths with the same name), or registered with another
    /// signature.
    pub(crate) fn index_of<A, R>(&self, f: Remote<A, R>, method: &str) -> u32 {
        let name = f.name();
        let Some(index) = self.find(name) else {
            let near = self.near_misses(name);
            if near.is_empty() {
                panic!(
                    "{method}: `{name}` is not in the pool's registry \
                     (register it in registry![...] under the same path)"
                )
            }
            panic!(
                "{method}: `{name}` is not in the pool's registry, which lists {}: remote! \
                 must name the function by the same path as registry! (paths are compared \
                 as written, up to a leading self:: or crate::)",
                near.iter()
                    .map(|path| format!("`{path}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let entry = self.entry(index).expect("found above");
        if entry.types() != f.types() {
            panic!(
                "{method}: `{name}` is registered as {entry:?}, but the Remote is fn({}) -> {}: \
                 registry! and remote! name different functions",
                f.types().0,
                f.types().1
            )
        }
        index
    }

    /// Why `name` is not found, for the panic of `submit`: the registered
    /// paths that end in the same function name, if any.
    pub(crate) fn near_misses(&self, name: &str) -> Vec<&'static str> {
        let last = last_segment(name);
        self.names()
            .filter(|candidate| last_segment(candidate) == last)
            .collect()
    }

    /// The function at `index`.
    pub(crate) fn entry(&self, index: u32) -> Option<&'static Entry> {
        self.entries.get(usize::try_from(index).ok()?)
    }

    /// A hash of every name and signature, in order: equal in two processes
    /// exactly when their tables agree (FNV-1a, 64 bits).
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |text: &str| {
            for byte in text.bytes().chain([0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for entry in self.entries {
            let (args, result) = (entry.types)();
            feed(entry.name);
            feed(args);
            feed(result);
        }
        hash
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries).finish()
    }
}

/// A typed, `Copy` handle to one registered function `fn(A) -> R`, made by
/// [`remote!`](crate::remote): the compiler checks the argument and result
/// types at every [`submit`](super::ProcessPool::submit).
///
/// The pool turns its name into an index in the [`Registry`]; only that
/// index travels, and the worker finds the function in its own copy of the
/// table (the handshake made sure the copies agree).
///
/// # Examples
///
/// ```
/// use stealpool::process::Remote;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// let sq: Remote<u64, u64> = stealpool::remote!(square);
/// assert_eq!(sq.name(), "square");
/// ```
pub struct Remote<A, R> {
    name: &'static str,
    /// The signature's type names, checked against the registry's entry.
    types: fn() -> (&'static str, &'static str),
    _signature: PhantomData<fn(A) -> R>,
}

impl<A, R> Remote<A, R> {
    /// Used by [`remote!`](crate::remote); not a stable API.
    #[doc(hidden)]
    pub const fn __new(name: &'static str, _f: fn(A) -> R) -> Remote<A, R> {
        Remote {
            name,
            types: type_names::<A, R>,
            _signature: PhantomData,
        }
    }

    /// The argument and result type names.
    pub(crate) fn types(&self) -> (&'static str, &'static str) {
        (self.types)()
    }

    /// The function's name, as written in `remote!` (and in `registry!`).
    ///
    /// # Examples
    ///
    /// ```
    /// fn noop(_: ()) {}
    /// assert_eq!(stealpool::remote!(noop).name(), "noop");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<A, R> Clone for Remote<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, R> Copy for Remote<A, R> {}

impl<A, R> fmt::Debug for Remote<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Remote({}: fn({}) -> {})",
            self.name,
            std::any::type_name::<A>(),
            std::any::type_name::<R>()
        )
    }
}

/// The trampoline behind every registered function: decode, call, encode.
/// Used by [`registry!`](crate::registry); not a stable API.
#[doc(hidden)]
pub fn __call<A, R>(args: &[u8], f: fn(A) -> R) -> Result<Vec<u8>, RemoteError>
where
    A: DeserializeOwned,
    R: Serialize,
{
    let args: A = postcard::from_bytes(args).map_err(|err| {
        RemoteError::BadArgs(format!(
            "could not decode the arguments as {}: {err}",
            std::any::type_name::<A>()
        ))
    })?;
    let result = f(args);
    postcard::to_stdvec(&result).map_err(|err| {
        RemoteError::BadResult(format!(
            "could not encode the result ({}): {err}",
            std::any::type_name::<R>()
        ))
    })
}

/// `path` without blanks and without a leading `self::` or `crate::`.
fn normalized(path: &str) -> impl Iterator<Item = char> + '_ {
    let path = path.trim_start();
    let path = ["self", "crate"]
        .iter()
        .find_map(|prefix| {
            let rest = path.strip_prefix(prefix)?.trim_start();
            rest.strip_prefix("::")
        })
        .unwrap_or(path);
    path.chars().filter(|c| !c.is_whitespace())
}

/// Whether two paths as `stringify!` wrote them name the same item from
/// the same module.
fn same_path(a: &str, b: &str) -> bool {
    normalized(a).eq(normalized(b))
}

/// The last segment of a path: the function's own name.
fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

/// The type names of a signature `fn(A) -> R`.
fn type_names<A, R>() -> (&'static str, &'static str) {
    (std::any::type_name::<A>(), std::any::type_name::<R>())
}

/// The argument and result type names of `f`, for the fingerprint.
/// Used by [`registry!`](crate::registry); not a stable API.
#[doc(hidden)]
pub fn __types<A, R>(_f: fn(A) -> R) -> (&'static str, &'static str) {
    type_names::<A, R>()
}

/// Builds a [`Registry`](crate::process::Registry) (feature `process`): the
/// functions, each `fn(A) -> R` with `A: DeserializeOwned` and
/// `R: Serialize`, that worker processes may run. Name each by the path that
/// [`remote!`](crate::remote) will use (up to a leading `self::` or
/// `crate::`).
///
/// **The argument must be owned** (`serde::de::DeserializeOwned`): it is
/// decoded from a buffer that does not outlive the call. Take `String`, not
/// `&str`; `Vec<u8>`, not `&[u8]`; a tuple of owned values for several
/// arguments. A function that borrows fails to compile with "implementation
/// of `Deserialize` is not general enough", which means exactly this.
///
/// ```compile_fail
/// fn len(s: &str) -> usize { s.len() } // borrows: not allowed
/// static TASKS: stealpool::process::Registry = stealpool::registry![len];
/// ```
///
/// # Examples
///
/// ```
/// fn add(pair: (i64, i64)) -> i64 {
///     pair.0 + pair.1
/// }
/// static TASKS: stealpool::process::Registry = stealpool::registry![add];
/// assert_eq!(TASKS.len(), 1);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
#[macro_export]
macro_rules! registry {
    ($($function:path),* $(,)?) => {{
        const ENTRIES: &[$crate::process::Entry] = &[$(
            $crate::process::Entry::__new(
                ::core::stringify!($function),
                |args| $crate::process::__call(args, $function),
                || $crate::process::__types($function),
            )
        ),*];
        $crate::process::Registry::__new(ENTRIES)
    }};
}

/// A typed [`Remote`](crate::process::Remote) handle to a function listed in
/// [`registry!`](crate::registry) (feature `process`), named by the same
/// path.
///
/// # Examples
///
/// ```
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// let sq = stealpool::remote!(square);
/// let _: stealpool::process::Remote<u64, u64> = sq;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
#[macro_export]
macro_rules! remote {
    ($function:path) => {
        $crate::process::Remote::__new(::core::stringify!($function), $function)
    };
}
