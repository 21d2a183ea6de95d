#pragma once
// A parse result for pure protocol code: a value or a one-line error, never an exception.
#include <string>
#include <utility>

namespace netd::proto {

template <class T>
struct result {
    T value{};
    std::string error;  ///< empty on success

    bool ok() const { return error.empty(); }
    static result fail(std::string why) { return result{T{}, std::move(why)}; }
};

}  // namespace netd::proto
