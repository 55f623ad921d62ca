// <sib/mi.hpp>: sib::mi: dependence estimators (HSIC linear, unbiased, RBF; CKA; the variance proxy).
#pragma once
#include <sib/mi/cka.hpp>
#include <sib/mi/gram.hpp>
#include <sib/mi/hsic_linear.hpp>
#include <sib/mi/hsic_rbf.hpp>
#include <sib/mi/hsic_unbiased.hpp>
#include <sib/mi/normalize_rows.hpp>
#include <sib/mi/variance_proxy.hpp>
