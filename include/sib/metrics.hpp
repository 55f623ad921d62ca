// <sib/metrics.hpp>: sib::metrics: localisation and faithfulness metrics, bootstrap intervals, reports.
#pragma once
#include <sib/metrics/bootstrap.hpp>
#include <sib/metrics/faithfulness.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/metrics/report.hpp>
#include <sib/metrics/score_explanations.hpp>
