#!/usr/bin/env python3
"""Finds import cycles between the modules of Rust crates (stdlib only).

Usage: module-cycles.py [CRATE_DIR ...]

Without arguments, every directory at the repository root with a Cargo.toml and a
src/ is checked. A named directory that does not exist is skipped with a note.

The graph, per crate:
* a module is a .rs file under src/ (src/lib.rs or src/main.rs is the root,
  `crate`; src/a.rs and src/a/mod.rs are `a`; src/a/b.rs is `a::b`); inline
  `mod x { ... }` blocks belong to their file;
* `mod x;` makes an edge from a module to its child x;
* `crate::...`, `$crate::...`, `super::...` and `self::...` paths, in `use`
  declarations (groups included) and elsewhere in the code, make an edge to the
  module they name. A path to an item resolves to the module that holds it, and
  through re-exports: `crate::Name` where the root has `pub use m::Name` is an
  edge to m (likewise for any module's `pub use` of a module of this crate);
* comments and string literals are ignored (doc links are not imports).

So a child that imports from its parent closes a cycle (parent -> child -> parent)
unless what it imports is only re-exported by the parent from another module.
Prints each cycle as `crate: a -> b -> a` and exits 1 if there is any.
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_CYCLES = 200


def strip_code(text):
    """The source with comments, strings and char literals blanked out (offsets and
    newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "rb" and re.match(r'(?:b?r(#*)")', text[i:i + 300]) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            m = re.match(r'b?r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}'), else a lifetime or label.
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'", text[i:])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code)


def parse_use_tree(tree):
    """`a::{b, c::{d, self}}` -> [["a", "b"], ["a", "c", "d"], ["a", "c"]]."""
    tree = re.sub(r"\s+", "", tree)
    paths = []

    def walk(prefix, s):
        # s is a comma-separated list of subtrees at top level
        depth, start = 0, 0
        parts = []
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for part in parts:
            if not part:
                continue
            brace = part.find("{")
            if brace >= 0:
                head = part[:brace].rstrip(":")
                inner = part[brace + 1:part.rfind("}")]
                segs = [x for x in head.split("::") if x]
                walk(prefix + segs, inner)
            else:
                segs = [x for x in part.split("::") if x]
                if segs == ["self"]:
                    paths.append(list(prefix))
                else:
                    paths.append(prefix + segs)

    walk([], tree)
    return paths


def fix_as(tree):
    # `Foo as Bar` -> `Foo` (before whitespace is removed)
    return re.sub(r"\s+as\s+" + IDENT, "", tree)


class Crate:
    def __init__(self, label, src):
        self.label = label
        self.src = src
        self.modules = {}  # module path (tuple) -> file
        self.notes = []
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            parts = [] if rel == "." else rel.split(os.sep)
            if parts[:1] == ["bin"]:
                if not parts[1:]:
                    self.notes.append("src/bin/ (separate binary crates) not analysed")
                continue
            for f in sorted(filenames):
                if not f.endswith(".rs"):
                    continue
                stem = f[:-3]
                if not parts and stem in ("lib", "main"):
                    if stem == "main" and os.path.exists(os.path.join(src, "lib.rs")):
                        self.notes.append("src/main.rs not analysed (the library is)")
                        continue
                    path = ()
                elif stem == "mod":
                    path = tuple(parts)
                else:
                    path = tuple(parts) + (stem,)
                self.modules[path] = os.path.join(dirpath, f)
        self.code = {}
        for path, f in self.modules.items():
            with open(f, encoding="utf-8", errors="replace") as fh:
                self.code[path] = strip_code(fh.read())
        self.inline = {m: self.inline_ranges(c) for m, c in self.code.items()}
        self.reexports = {m: self.find_reexports(m) for m in self.modules}
        self.defined = {m: self.find_definitions(m) for m in self.modules}

    @staticmethod
    def name(path):
        return "::".join(path) if path else "crate"

    def uses(self, code):
        """(start, end, tree, is_pub) for each `use` declaration."""
        for m in re.finditer(r"(?:\b(pub)\s*(?:\([^)]*\))?\s*)?\buse\s+", code):
            end = code.find(";", m.end())
            if end < 0:
                continue
            yield m.start(), end + 1, code[m.end():end], m.group(1) is not None

    def find_reexports(self, mod):
        """Item name -> the use path (segments) it is re-exported from, for `pub use`."""
        out = {}
        for _, _, tree, is_pub in self.uses(self.code[mod]):
            if not is_pub:
                continue
            for segs in parse_use_tree(fix_as_keep_alias(tree)):
                if not segs:
                    continue
                alias = segs[-1]
                if alias == "*":
                    out.setdefault("*", []).append(segs[:-1])
                    continue
                if "=" in alias:  # `Name=Alias` marker from fix_as_keep_alias
                    orig, alias = alias.split("=")
                    segs = segs[:-1] + [orig]
                out.setdefault(alias, segs)
        return out

    def find_definitions(self, mod):
        code = self.code[mod]
        pat = (r"\b(?:fn|struct|enum|trait|type|const|static|union|macro_rules\s*!)\s+(" + IDENT + ")")
        return set(re.findall(pat, code))

    def inline_ranges(self, code):
        """(start, end, name) of inline `mod name { ... }` blocks."""
        out = []
        for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", code):
            open_at = m.end() - 1
            out.append((open_at, matching_brace(code, open_at), m.group(1)))
        return out

    def scope_at(self, mod, ranges, pos):
        inner = [name for (s, e, name) in ranges if s < pos < e]
        return list(mod) + inner

    def resolve(self, scope, segs, depth=0):
        """The module a path names (None if outside this crate)."""
        if not segs or depth > 8:
            return None
        base = list(scope)
        i = 0
        if segs[0] in ("crate", "$crate"):
            base, i = [], 1
        elif segs[0] in ("super", "self"):
            while i < len(segs) and segs[i] in ("super", "self"):
                if segs[i] == "super":
                    if not base:
                        return None
                    base.pop()
                i += 1
        else:
            return None
        while i < len(segs) and (tuple(base + [segs[i]]) in self.modules or self.is_inline(base + [segs[i]])):
            base.append(segs[i])
            i += 1
        module = tuple(base)
        while module not in self.modules:
            module = module[:-1]
        if i < len(segs) and tuple(base) == module:
            item = segs[i]
            if item not in self.defined[module] and item not in self.reexports[module]:
                # `pub use m::*`: the item comes from the glob-imported module that has it.
                for via in self.reexports[module].get("*", []):
                    if via and via[0] in ("crate", "$crate", "super", "self"):
                        target = self.resolve(list(module), via + ["*"], depth + 1)
                    elif tuple(list(module) + via[:1]) in self.modules:
                        target = self.resolve(list(module), ["self"] + via + ["*"], depth + 1)
                    else:
                        continue
                    if target is not None and (item in self.defined[target] or item in self.reexports[target]):
                        return self.resolve(list(target), ["self", item], depth + 1)
            if item in self.reexports[module] and item not in self.defined[module]:
                via = self.reexports[module][item]
                if via[0] in ("crate", "$crate", "super", "self"):
                    target = self.resolve(list(module), via, depth + 1)
                elif tuple(list(module) + via[:1]) in self.modules:
                    target = self.resolve(list(module), ["self"] + via, depth + 1)
                else:
                    target = None  # an external crate's item
                return target
        return module

    def is_inline(self, path):
        # An inline module inside the file of the longest module prefix.
        for k in range(len(path) - 1, -1, -1):
            if tuple(path[:k]) in self.modules:
                file_mod = tuple(path[:k])
                names = [name for (_, _, name) in self.inline[file_mod]]
                return all(p in names for p in path[k:])
        return False

    def edges(self):
        graph = {m: set() for m in self.modules}
        for mod, code in self.code.items():
            ranges = self.inline[mod]
            # `mod x;`: parent -> child
            for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*;", code):
                child = tuple(self.scope_at(mod, ranges, m.start())) + (m.group(1),)
                if child in self.modules:
                    graph[mod].add(child)
            rest = list(code)
            for start, end, tree, _ in self.uses(code):
                scope = self.scope_at(mod, ranges, start)
                for segs in parse_use_tree(fix_as(tree)):
                    target = self.resolve(scope, segs)
                    if target is not None:
                        graph[mod].add(target)
                rest[start:end] = " " * (end - start)
            rest = "".join(rest)
            # `pub(in crate::x)` is a visibility, not an import.
            rest = re.sub(r"\bpub\s*\(\s*in\s+[^)]*\)", lambda m: " " * len(m.group(0)), rest)
            path_re = r"(?:\$crate|\b(?:crate|super|self))(?:\s*::\s*" + IDENT + ")*"
            for m in re.finditer(path_re, rest):
                text = m.group(0)
                if "::" not in text:
                    continue
                segs = [s.strip() for s in text.split("::")]
                scope = self.scope_at(mod, ranges, m.start())
                target = self.resolve(scope, segs)
                if target is not None:
                    graph[mod].add(target)
        for m in graph:
            graph[m].discard(m)
        return graph


def fix_as_keep_alias(tree):
    # `Foo as Bar` -> `Foo=Bar`, so a re-export is found under the name it gets.
    return re.sub(r"(" + IDENT + r")\s+as\s+(" + IDENT + ")", r"\1=\2", tree)


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def cycles(graph):
    """Elementary cycles, each starting at its smallest module, at most MAX_CYCLES."""
    found = []
    for comp in sccs(graph):
        if len(comp) < 2:
            continue
        members = set(comp)
        for start in sorted(comp):
            def dfs(v, path, seen):
                for w in sorted(graph[v]):
                    if w not in members or w < start:
                        continue
                    if w == start:
                        found.append(path + [start])
                        if len(found) >= MAX_CYCLES:
                            return True
                    elif w not in seen:
                        seen.add(w)
                        if dfs(w, path + [w], seen):
                            return True
                        seen.discard(w)
                return False

            if dfs(start, [start], {start}):
                return found, True
    return found, False


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    dirs = argv[1:]
    if not dirs:
        dirs = sorted(
            d for d in os.listdir(root)
            if os.path.isfile(os.path.join(root, d, "Cargo.toml")) and os.path.isdir(os.path.join(root, d, "src"))
        )
    status = 0
    for d in dirs:
        path = d if os.path.isdir(d) else os.path.join(root, d)
        label = os.path.basename(os.path.normpath(d))
        if not os.path.isdir(path):
            print(f"module-cycles: {d}: no such directory, skipped", file=sys.stderr)
            continue
        src = os.path.join(path, "src")
        if not os.path.isdir(src):
            print(f"module-cycles: {d}: no src/ directory, skipped", file=sys.stderr)
            continue
        crate = Crate(label, src)
        for note in crate.notes:
            print(f"module-cycles: {label}: {note}", file=sys.stderr)
        if not crate.modules:
            print(f"module-cycles: {label}: no .rs files under src/, skipped", file=sys.stderr)
            continue
        found, truncated = cycles(crate.edges())
        for cyc in found:
            print(f"{label}: " + " -> ".join(Crate.name(m) for m in cyc))
        if truncated:
            print(f"{label}: ... (stopped after {MAX_CYCLES} cycles)")
        if found:
            status = 1
        else:
            print(f"module-cycles: {label}: {len(crate.modules)} modules, no cycles", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
