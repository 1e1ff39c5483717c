#include "route/http_template.h"

#include "base/strings.h"

namespace oa::route {
namespace {

// A recursive-descent parser over the grammar in the header; `pos_` only moves forward.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<HttpTemplate> Run() {
    if (text_.empty() || text_[0] != '/') return Error("must start with '/'");
    ++pos_;
    if (!ParseSegments(/*inside_variable=*/false)) return status_;
    if (Peek() == ':') {
      ++pos_;
      out_.verb = std::string(TakeLiteral());
      if (out_.verb.empty()) return Error("empty verb after ':'");
    }
    if (pos_ != text_.size()) return Error(StrCat("unexpected '", text_.substr(pos_, 1), "'"));
    for (size_t i = 0; i + 1 < out_.segments.size(); ++i) {
      if (out_.segments[i] == HttpTemplate::kMultiWildcard) {
        return Error("'**' may only be the last segment");
      }
    }
    return std::move(out_);
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  absl::Status Error(std::string_view why) {
    status_ = absl::InvalidArgumentError(
        StrCat("bad http template '", text_, "' at offset ", pos_, ": ", why));
    return status_;
  }

  // Records the error and returns false, for the bool-returning parse steps.
  bool Fail(std::string_view why) {
    Error(why).IgnoreError();  // kept in status_
    return false;
  }

  // A literal runs up to the next character with a meaning in the grammar.
  std::string_view TakeLiteral() {
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           std::string_view("/{}=*:").find(text_[pos_]) == std::string_view::npos)
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  bool ParseSegments(bool inside_variable) {
    do {
      if (!ParseSegment(inside_variable)) return false;
    } while (Peek() == '/' && (++pos_, true));
    return true;
  }

  bool ParseSegment(bool inside_variable) {
    if (Peek() == '*') {
      ++pos_;
      const bool multi = Peek() == '*';
      if (multi) ++pos_;
      out_.segments.emplace_back(multi ? HttpTemplate::kMultiWildcard
                                       : HttpTemplate::kSingleWildcard);
      return true;
    }
    if (Peek() == '{') {
      if (inside_variable) return Fail("variables cannot nest");
      return ParseVariable();
    }
    std::string_view literal = TakeLiteral();
    if (literal.empty()) return Fail("empty segment");
    out_.segments.emplace_back(literal);
    return true;
  }

  bool ParseVariable() {
    ++pos_;  // '{'
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           std::string_view("}=").find(text_[pos_]) == std::string_view::npos)
      ++pos_;
    HttpTemplate::Variable var;
    for (std::string_view ident : Split(text_.substr(start, pos_ - start), '.')) {
      var.field_path.emplace_back(ident);
    }
    for (const std::string& ident : var.field_path) {
      if (ident.empty() || (ident[0] >= '0' && ident[0] <= '9') ||
          !std::all_of(ident.begin(), ident.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
          })) {
        return Fail("bad field path in variable");
      }
    }
    var.start_segment = static_cast<int>(out_.segments.size());
    if (Peek() == '=') {
      ++pos_;
      if (!ParseSegments(/*inside_variable=*/true)) return false;
    } else {
      out_.segments.emplace_back(HttpTemplate::kSingleWildcard);
    }
    if (Peek() != '}') return Fail("expected '}'");
    ++pos_;
    var.end_segment = static_cast<int>(out_.segments.size());
    var.multi_segment = out_.segments.back() == HttpTemplate::kMultiWildcard;
    for (const HttpTemplate::Variable& other : out_.variables) {
      if (other.field_path == var.field_path) {
        return Fail(StrCat("variable '", Join(var.field_path, "."), "' appears twice"));
      }
    }
    out_.variables.push_back(std::move(var));
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
  HttpTemplate out_;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<HttpTemplate> HttpTemplate::Parse(std::string_view text) {
  return Parser(text).Run();
}

}  // namespace oa::route
