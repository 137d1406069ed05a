// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {DevToken} from "../src/DevToken.sol";

contract DevTokenTest {
    function test_metadataAndOpenMint() public {
        DevToken t = new DevToken();
        require(keccak256(bytes(t.name())) == keccak256("Assay Devnet Token"), "name");
        require(keccak256(bytes(t.symbol())) == keccak256("ADT"), "symbol");
        require(t.decimals() == 18, "decimals");
        t.mint(address(0xBEEF), 5);
        require(t.balanceOf(address(0xBEEF)) == 5 && t.totalSupply() == 5, "mint");
    }
}
