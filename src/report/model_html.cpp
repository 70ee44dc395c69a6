#include "report/model_report.hpp"

namespace oomless::report {

std::string model_md(const ModelRun&) {
  return "";
}
std::string model_html(const ModelRun&) {
  return "";
}

}  // namespace oomless::report
