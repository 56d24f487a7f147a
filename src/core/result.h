// Result<T>: a value or an Error, shaped like std::expected so C++23 is a rename.
// Expected failures travel as values; bugs are B5_ASSERTs. Not thread-safe (a plain value type).
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "core/assert.h"

namespace beta500 {

// Canonical error codes, chosen as Abseil's: the caller decides by code, the message is for people.
enum class ErrorCode {
    kInvalidArgument,
    kNotFound,
    kAlreadyExists,
    kFailedPrecondition,
    kUnavailable,
    kInternal,
};

struct Error {
    ErrorCode code = ErrorCode::kInternal;
    std::string message;
};

template <typename T>
class [[nodiscard]] Result {
   public:
    Result(T value) : state_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
    Result(Error error) : state_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

    bool has_value() const { return state_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & {
        B5_ASSERT(has_value(), "Result::value() on an error");
        return std::get<0>(state_);
    }
    const T& value() const& {
        B5_ASSERT(has_value(), "Result::value() on an error");
        return std::get<0>(state_);
    }
    T&& value() && {
        B5_ASSERT(has_value(), "Result::value() on an error");
        return std::get<0>(std::move(state_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }

    const Error& error() const {
        B5_ASSERT(!has_value(), "Result::error() on a value");
        return std::get<1>(state_);
    }

   private:
    std::variant<T, Error> state_;
};

// Status: Result without a value.
class [[nodiscard]] Status {
   public:
    Status() = default;
    Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
    static Status Ok() { return {}; }
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const {
        B5_ASSERT(!ok_, "Status::error() on success");
        return error_;
    }

   private:
    Error error_;
    bool ok_ = true;
};

}  // namespace beta500
