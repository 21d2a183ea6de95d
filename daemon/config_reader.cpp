#include "config_reader.hpp"

#include <algorithm>
#include <tuple>

#include "proto/duration.hpp"

namespace netd {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        default:
            return "a date/time";
    }
}

// Messages quote keys and values, which TOML lets hold any character; an error stays one line
// ("file:line:col: ...") with control characters written as TOML escapes.
std::string one_line(std::string_view text) {
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (u < 0x20 || u == 0x7f) {
            constexpr char hex[] = "0123456789ABCDEF";
            out += "\\u00";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

void diagnostics::add(const toml::source_region& where, std::string_view message) {
    entries_.push_back({where.begin.line, where.begin.column,
                        file + ":" + std::to_string(where.begin.line) + ":" +
                            std::to_string(where.begin.column) + ": " + one_line(message)});
}

std::vector<std::string> diagnostics::errors() const {
    auto sorted = entries_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const entry& a, const entry& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::vector<std::string> out;
    for (auto& e : sorted)
        out.push_back(std::move(e.text));
    return out;
}

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
    std::string_view best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (auto c : candidates) {
        auto d = edit_distance(word, c);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    return std::string(best);
}

const toml::node* table_reader::lookup(std::string_view key) {
    known_.push_back(key);
    return table_.get(key);
}

void table_reader::error(std::string_view key, std::string_view message) {
    const toml::node* node = table_.get(key);
    diag_.add(node ? node->source() : table_.source(), message);
}

void table_reader::type_error(std::string_view key, const toml::node& node,
                              std::string_view expected) {
    diag_.add(node.source(), "'" + std::string(key) + "' in [" + section_ + "] must be " +
                                 std::string(expected) + ", not " + std::string(type_name(node)));
}

bool table_reader::get(std::string_view key, bool& out) {
    auto* node = lookup(key);
    if (!node) return false;
    if (auto v = node->value<bool>(); v && node->is_boolean()) {
        out = *v;
        return true;
    }
    type_error(key, *node, "true or false");
    return false;
}

bool table_reader::get(std::string_view key, std::string& out) {
    auto* node = lookup(key);
    if (!node) return false;
    if (!node->is_string()) {
        type_error(key, *node, "a string");
        return false;
    }
    out = *node->value<std::string>();
    return true;
}

bool table_reader::get(std::string_view key, std::int64_t& out, std::int64_t min,
                       std::int64_t max) {
    auto* node = lookup(key);
    if (!node) return false;
    if (!node->is_integer()) {
        type_error(key, *node, "an integer");
        return false;
    }
    auto v = *node->value<std::int64_t>();
    if (v < min || v > max) {
        diag_.add(node->source(), "'" + std::string(key) + "' in [" + section_ + "] must be " +
                                      std::to_string(min) + ".." + std::to_string(max) + ", not " +
                                      std::to_string(v));
        return false;
    }
    out = v;
    return true;
}

bool table_reader::get_one_of(std::string_view key, std::string& out,
                              std::initializer_list<std::string_view> choices) {
    std::string value;
    if (!get(key, value)) return false;
    if (std::find(choices.begin(), choices.end(), value) != choices.end()) {
        out = value;
        return true;
    }
    std::string list;
    for (auto c : choices)
        list += (list.empty() ? "\"" : ", \"") + std::string(c) + "\"";
    auto hint = closest_match(value, std::vector<std::string_view>(choices));
    error(key, "'" + std::string(key) + "' in [" + section_ + "] must be one of " + list +
                   ", not \"" + value + "\"" +
                   (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)"));
    return false;
}

bool table_reader::get_duration(std::string_view key, usec& out, usec min) {
    std::string text;
    if (!get(key, text)) return false;
    auto d = proto::parse_duration(text);
    if (!d.ok()) {
        error(key, "'" + std::string(key) + "' in [" + section_ + "]: " + d.error);
        return false;
    }
    if (d.value < min) {
        error(key, "'" + std::string(key) + "' in [" + section_ + "] must be at least " +
                       proto::format_duration(min) + ", not \"" + text + "\"");
        return false;
    }
    out = d.value;
    return true;
}

bool table_reader::get_path(std::string_view key, std::filesystem::path& out) {
    std::string text;
    if (!get(key, text)) return false;
    if (text.empty()) {
        error(key, "'" + std::string(key) + "' in [" + section_ + "] must not be empty");
        return false;
    }
    std::filesystem::path p(text);
    out = p.is_absolute() ? p : diag_.base_dir / p;
    return true;
}

bool table_reader::get_addresses(std::string_view key, std::vector<proto::listen_address>& out) {
    auto* node = lookup(key);
    if (!node) return false;
    auto* array = node->as_array();
    if (!array) {
        type_error(key, *node, "an array of strings, e.g. [\"127.0.0.1:7000\"]");
        return false;
    }
    std::vector<proto::listen_address> result;
    bool ok = true;
    for (const auto& item : *array) {
        auto text = item.value<std::string>();
        if (!item.is_string()) {
            type_error(key, item, "an array of strings, e.g. [\"127.0.0.1:7000\"]");
            ok = false;
            continue;
        }
        auto addr = proto::parse_listen_address(*text);
        if (!addr.ok()) {
            diag_.add(item.source(), "[" + section_ + "] " + std::string(key) + ": " + addr.error);
            ok = false;
        } else if (std::find(result.begin(), result.end(), addr.value) != result.end()) {
            diag_.add(item.source(), "[" + section_ + "] " + std::string(key) + ": '" + *text +
                                         "' is listed twice");
            ok = false;
        } else {
            result.push_back(addr.value);
        }
    }
    if (ok) out = std::move(result);
    return ok;
}

bool table_reader::get_cidrs(std::string_view key, std::vector<proto::cidr>& out) {
    auto* node = lookup(key);
    if (!node) return false;
    auto* array = node->as_array();
    if (!array) {
        type_error(key, *node, "an array of networks, e.g. [\"127.0.0.0/8\", \"::1/128\"]");
        return false;
    }
    std::vector<proto::cidr> result;
    bool ok = true;
    for (const auto& item : *array) {
        auto text = item.value<std::string>();
        if (!item.is_string()) {
            type_error(key, item, "an array of networks, e.g. [\"127.0.0.0/8\", \"::1/128\"]");
            ok = false;
            continue;
        }
        auto net = proto::parse_cidr(*text);
        if (!net.ok()) {
            diag_.add(item.source(), "[" + section_ + "] " + std::string(key) + ": " + net.error);
            ok = false;
        } else {
            result.push_back(net.value);
        }
    }
    if (ok) out = std::move(result);
    return ok;
}

void table_reader::finish() {
    for (const auto& [key, node] : table_) {
        auto name = key.str();
        if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
        auto hint = closest_match(name, known_);
        diag_.add(key.source(), "unknown key '" + std::string(name) + "' in [" + section_ + "]" +
                                    (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
}

}  // namespace netd
