// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Assay Devnet Token
/// @notice The ERC-20 deployed with the escrow on a devnet. Anyone may mint:
///         it has no value and exists so that tests and demos can fund accounts.
contract DevToken is ERC20 {
    constructor() ERC20("Assay Devnet Token", "ADT") {}

    /// @notice Mints `amount` base units to `to`; open to anyone (devnet only).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
